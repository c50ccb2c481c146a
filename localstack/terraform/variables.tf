# Defaults are the app's own defaults (api/chalicelib/config.py) and the dev bootstrap's
# names (api/devtools/provisioning.py), so `make serve` works with or without the exports.

variable "region" {
  description = "AWS region the resources live in (LocalStack accepts any); the app's AWS_REGION."
  type        = string
  default     = "us-east-1"
}

variable "users_table_name" {
  description = "DynamoDB users table; the app's USERS_TABLE."
  type        = string
  default     = "users"
}

variable "avatars_bucket_name" {
  description = "S3 avatars bucket; the app's AVATARS_BUCKET. A fixed name is fine in an emulator only."
  type        = string
  default     = "users-api-avatars"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.avatars_bucket_name))
    error_message = "The bucket name must be 3-63 characters of lower-case letters, digits, dots and hyphens."
  }
}

variable "app_role_name" {
  description = "Name of the app's IAM role (in AWS the CDK data stack creates it)."
  type        = string
  default     = "users-api-app"
}

variable "sweep_role_name" {
  description = "Name of the orphan sweep's IAM role (in AWS the CDK data stack creates it)."
  type        = string
  default     = "users-api-sweep"
}

variable "app_endpoint_url" {
  description = "AWS_ENDPOINT_URL for the app: where it reaches LocalStack from the host. The same default as the embedded emulator."
  type        = string
  default     = "http://127.0.0.1:4566"

  validation {
    condition     = can(regex("^https?://[^/]+$", var.app_endpoint_url))
    error_message = "The endpoint must be a scheme and host[:port] without a path, e.g. http://127.0.0.1:4566."
  }
}

variable "allowed_account_id" {
  description = "The only account this configuration may touch: LocalStack's default account. Plain `terraform` against real AWS credentials stops with an error instead of creating anything."
  type        = string
  default     = "000000000000"
}
