"""The deploy flow: a tool that drives the AWS CLI/SDK, the container engine and Helm.

It lives next to the CDK app, not inside it: the CDK app (``users_api_infra``) only describes
stacks; this package deploys them and the release on top. Run it from the repository root as
``python -m deploy ACTION`` with ``cdk/`` on ``PYTHONPATH`` (the Makefile does; see cdk/cdk.mk).

Modules:
  inputs     the person's choices, read once from the environment (``DeployInputs``)
  release    PURE: stack outputs + inputs -> Helm values and the exact helm command (``Release``)
  aws        the AWS reads the flow makes itself, through boto3 (outputs, prefix lists, identity)
  preflight  checks before the first AWS change: region, credentials, tools, bootstrap stack
  flow       the ordered steps of deploy/destroy, printable (plan) and runnable
  public     after the deploy: the public URL from the Ingress, and GET /openapi.json through it

For a rehearsal on the emulator: read the outputs with ``aws.read_stack_outputs`` (or any dict
of OutputKey -> value), then ``release.release_for(...)`` gives the values and
``Release.template_command()`` renders the chart with exactly what ``make deploy`` would apply.
"""
