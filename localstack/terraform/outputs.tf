# The app's environment (see the contract in api/chalicelib/config.py).

locals {
  app_env = {
    AWS_ENDPOINT_URL = var.app_endpoint_url
    AWS_REGION       = var.region
    USERS_TABLE      = aws_dynamodb_table.users.name
    AVATARS_BUCKET   = aws_s3_bucket.avatars.bucket
  }
}

output "aws_endpoint_url" {
  description = "AWS_ENDPOINT_URL for the app."
  value       = local.app_env.AWS_ENDPOINT_URL
}

output "aws_region" {
  description = "AWS_REGION for the app."
  value       = local.app_env.AWS_REGION
}

output "users_table" {
  description = "USERS_TABLE for the app."
  value       = local.app_env.USERS_TABLE
}

output "avatars_bucket" {
  description = "AVATARS_BUCKET for the app."
  value       = local.app_env.AVATARS_BUCKET
}

output "app_role_arn" {
  description = "ARN of the app role (informational: LocalStack Community does not enforce IAM)."
  value       = aws_iam_role.app.arn
}

output "sweep_role_arn" {
  description = "ARN of the orphan sweep's role (informational: LocalStack Community does not enforce IAM)."
  value       = aws_iam_role.sweep.arn
}

output "env_exports" {
  description = "Shell lines for the app: eval \"$(make -s localstack-env)\"."
  value = join("\n", concat(
    [for name in sort(keys(local.app_env)) : "export ${name}='${local.app_env[name]}'"],
    [
      # LocalStack accepts any credentials; these are its documented placeholders, not keys.
      # They also make any request that misses LocalStack fail instead of reaching real AWS.
      "export AWS_ACCESS_KEY_ID='test'",
      "export AWS_SECRET_ACCESS_KEY='test'",
    ],
  ))
}
