"""AWS CDK app for users-api: data, registry and cluster stacks (see cdk/README.md)."""
