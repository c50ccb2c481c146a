terraform {
  # tflocal runs whichever `terraform` is on PATH. Any 1.x from 1.6 on (the release
  # line tflocal's current override format targets); a future 2.x needs a review first.
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Pinned below 6.23 on purpose. From 6.23.0 the provider reads and writes bucket
      # tags through the S3 Control API (ListTagsForResource) on every aws_s3_bucket,
      # and LocalStack only answers that when `s3control` is in SERVICES
      # (localstack/compose.yaml enables s3,dynamodb,iam,sts only). Bumping past 6.22
      # means adding s3control to SERVICES too; tests/localstack checks the two together.
      version = "~> 6.22.0"
    }
  }
}
