# What the users-api needs, created in LocalStack with tflocal (see localstack/README.md).
# It mirrors the CDK data stack (cdk/) and the dev bootstrap (api/devtools/provisioning.py);
# tests/localstack/test_parity.py compares the three so they cannot drift apart.
# Production-only settings of the CDK stack (point-in-time recovery, access logs, lifecycle
# rules, retention) are left out on purpose: LocalStack Community keeps nothing anyway.

provider "aws" {
  region = var.region

  # tflocal adds the LocalStack endpoints and placeholder credentials in a temporary
  # override file. This guard makes a plain `terraform apply` with real credentials fail
  # before it creates anything in a real account.
  allowed_account_ids = [var.allowed_account_id]

  default_tags {
    tags = {
      project    = "users-api"
      managed-by = "terraform"
      env        = "localstack"
    }
  }
}

locals {
  # The only key prefix the app writes to, reads the listing of, and deletes from.
  avatars_prefix = "avatars/"
}

# --- DynamoDB: users table ------------------------------------------------------------

resource "aws_dynamodb_table" "users" {
  name         = var.users_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "email"

  attribute {
    name = "email"
    type = "S"
  }
}

# --- S3: avatars bucket ---------------------------------------------------------------

resource "aws_s3_bucket" "avatars" {
  bucket = var.avatars_bucket_name
  # Dev only: lets `terraform destroy` remove a bucket that still holds avatars.
  force_destroy = true
}

resource "aws_s3_bucket_ownership_controls" "avatars" {
  bucket = aws_s3_bucket.avatars.id

  rule {
    # ACLs disabled: the bucket owner owns every object.
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "avatars" {
  bucket = aws_s3_bucket.avatars.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "avatars" {
  bucket = aws_s3_bucket.avatars.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "avatars" {
  bucket = aws_s3_bucket.avatars.id

  versioning_configuration {
    status = "Enabled"
  }
}

# TLS only, and TLS 1.2 or newer (the CDK stack's enforce_ssl + minimum_tls_version=1.2).
data "aws_iam_policy_document" "avatars_tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.avatars.arn,
      "${aws_s3_bucket.avatars.arn}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyTlsBelow12"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.avatars.arn,
      "${aws_s3_bucket.avatars.arn}/*",
    ]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "avatars_tls_only" {
  bucket = aws_s3_bucket.avatars.id
  policy = data.aws_iam_policy_document.avatars_tls_only.json

  # On real S3 a bucket policy written while the public access block is still being
  # applied can be rejected; order them.
  depends_on = [aws_s3_bucket_public_access_block.avatars]
}

# --- IAM: the app's role, least privilege ---------------------------------------------

data "aws_iam_policy_document" "app_trust" {
  statement {
    sid     = "EksPodIdentity"
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name               = var.app_role_name
  description        = "users-api app role (LocalStack dev loop); mirrors the CDK data stack."
  assume_role_policy = data.aws_iam_policy_document.app_trust.json
}

data "aws_iam_policy_document" "app" {
  statement {
    sid    = "UsersTable"
    effect = "Allow"
    # PutItem: POST /user; Scan: GET /users and the orphan sweep; DescribeTable: /readyz.
    actions   = ["dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.users.arn]
  }

  statement {
    sid    = "ListAvatarsPrefix"
    effect = "Allow"
    # /readyz and the orphan sweep list the avatars/ prefix, and nothing else.
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.avatars.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.avatars_prefix}*", local.avatars_prefix]
    }
  }

  statement {
    sid    = "AvatarObjects"
    effect = "Allow"
    # PutObject: upload; DeleteObject: when the DynamoDB put fails, delete the object just
    # written (a delete marker; the bucket's noncurrent-version expiry removes the bytes).
    # No DeleteObjectVersion: the web pods cannot purge history. No GetObject: the app
    # never reads avatars back.
    actions   = ["s3:DeleteObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.avatars.arn}/${local.avatars_prefix}*"]
  }
}

resource "aws_iam_role_policy" "app" {
  name   = "users-api-app"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}

# --- IAM: the orphan sweep's own role (its CronJob's service account), least privilege ---

resource "aws_iam_role" "sweep" {
  name               = var.sweep_role_name
  description        = "users-api orphan sweep role (LocalStack dev loop); mirrors the CDK data stack."
  assume_role_policy = data.aws_iam_policy_document.app_trust.json
}

data "aws_iam_policy_document" "sweep" {
  statement {
    sid    = "ReadUsers"
    effect = "Allow"
    # Scan: every referenced avatar key.
    actions   = ["dynamodb:Scan"]
    resources = [aws_dynamodb_table.users.arn]
  }

  statement {
    sid    = "ListAvatarsPrefix"
    effect = "Allow"
    # The candidates: objects under avatars/ with their age.
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.avatars.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.avatars_prefix}*", local.avatars_prefix]
    }
  }

  statement {
    sid    = "DeleteOrphans"
    effect = "Allow"
    # A plain delete (a delete marker), like the app's compensation; never a version delete.
    actions   = ["s3:DeleteObject"]
    resources = ["${aws_s3_bucket.avatars.arn}/${local.avatars_prefix}*"]
  }
}

resource "aws_iam_role_policy" "sweep" {
  name   = "users-api-sweep"
  role   = aws_iam_role.sweep.id
  policy = data.aws_iam_policy_document.sweep.json
}
