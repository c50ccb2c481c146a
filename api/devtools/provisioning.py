"""What the development bootstrap creates in an emulator: the table and bucket the app needs,
with the same key schema and bucket protections as the CDK data stack (a test keeps them equal).
Production resources are created by CDK, never by the app."""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import error_code, make_clients
from chalicelib.avatar_keys import PREFIX as AVATARS_PREFIX
from chalicelib.config import Settings

log = logging.getLogger(__name__)

TABLE_KEY_SCHEMA = [{"AttributeName": "email", "KeyType": "HASH"}]
TABLE_ATTRIBUTE_DEFINITIONS = [{"AttributeName": "email", "AttributeType": "S"}]
TABLE_BILLING_MODE = "PAY_PER_REQUEST"
BUCKET_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
BUCKET_ENCRYPTION_ALGORITHM = "AES256"
BUCKET_VERSIONING = "Enabled"
BUCKET_OBJECT_OWNERSHIP = "BucketOwnerEnforced"

__all__ = [
    "AVATARS_PREFIX", "BUCKET_ENCRYPTION_ALGORITHM", "BUCKET_OBJECT_OWNERSHIP",
    "BUCKET_PUBLIC_ACCESS_BLOCK", "BUCKET_VERSIONING", "TABLE_ATTRIBUTE_DEFINITIONS",
    "TABLE_BILLING_MODE", "TABLE_KEY_SCHEMA", "bootstrap",
]


def bootstrap(settings: Settings, clients: tuple | None = None) -> None:
    """Create the table and the bucket if they are missing. Safe to run again.
    `clients` is (dynamodb, s3); by default they come from the environment like the app's."""
    dynamodb, s3 = clients or make_clients(settings)
    _ensure_table(dynamodb, settings.users_table)
    _ensure_bucket(s3, settings.avatars_bucket, settings.region)


def _ensure_table(dynamodb, name: str) -> None:
    try:
        dynamodb.create_table(
            TableName=name,
            KeySchema=TABLE_KEY_SCHEMA,
            AttributeDefinitions=TABLE_ATTRIBUTE_DEFINITIONS,
            BillingMode=TABLE_BILLING_MODE,
        )
        log.info("created table", extra={"table": name})
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})


def _ensure_bucket(s3, name: str, region: str) -> None:
    request: dict = {"Bucket": name, "ObjectOwnership": BUCKET_OBJECT_OWNERSHIP}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
        log.info("created bucket", extra={"bucket": name})
    except ClientError as error:
        if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_public_access_block(
        Bucket=name, PublicAccessBlockConfiguration=BUCKET_PUBLIC_ACCESS_BLOCK)
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": BUCKET_ENCRYPTION_ALGORITHM}},
    ]})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": BUCKET_VERSIONING})
    # No TLS-only bucket policy here: the emulators speak plain HTTP and moto enforces
    # bucket policies, so it would deny every call. CDK and Terraform both set it.
