"""The rehearsal's small IAM evaluator: strict where it is small (no fixtures, no emulator)."""

from __future__ import annotations

import pytest

from tests.rehearsal.iam_check import Call, Unsupported, allowed, call_from_record

BUCKET = "arn:aws:s3:::b"
POLICY = {"Statement": [
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": f"{BUCKET}/avatars/*"},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
     "Condition": {"StringLike": {"s3:prefix": ["avatars/*", "avatars/"]}}},
    {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:r:1:table/t"},
    {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"},
]}


@pytest.mark.parametrize(("call", "expected"), [
    (Call("s3:PutObject", f"{BUCKET}/avatars/x.png"), True),
    (Call("S3:putobject", f"{BUCKET}/avatars/x.png"), True),  # actions are case-insensitive
    (Call("s3:PutObject", f"{BUCKET}/AVATARS/x.png"), False),  # resources are not
    (Call("s3:PutObject", f"{BUCKET}/other/x.png"), False),
    (Call("s3:DeleteObjectVersion", f"{BUCKET}/avatars/x.png"), False),
    (Call("s3:ListBucket", BUCKET, {"s3:prefix": "avatars/"}), True),
    (Call("s3:ListBucket", BUCKET, {"s3:prefix": "avatars/a"}), True),
    (Call("s3:ListBucket", BUCKET, {"s3:prefix": "other/"}), False),
    (Call("s3:ListBucket", BUCKET), False),  # a missing condition key never matches
    (Call("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/t"), True),
    (Call("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/t2"), False),
    (Call("dynamodb:DeleteTable", "arn:aws:dynamodb:r:1:table/t"), False),  # explicit Deny wins
])
def test_allowed(call, expected):
    assert allowed(call, [POLICY]) is expected


def test_unknown_shapes_raise_instead_of_guessing():
    with pytest.raises(Unsupported):
        allowed(Call("s3:GetObject", BUCKET), [{"Statement": [
            {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}]}])
    with pytest.raises(Unsupported):
        allowed(Call("s3:GetObject", BUCKET), [{"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
             "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}])
    with pytest.raises(Unsupported):
        call_from_record({"service": "s3", "operation": "RestoreObject", "params": {}},
                         region="r", account="1")


def test_records_become_calls():
    record = {"service": "s3", "operation": "DeleteObject",
              "params": {"Bucket": "b", "Key": "avatars/k", "VersionId": "v1"}}
    assert call_from_record(record, region="r", account="1") == Call(
        "s3:DeleteObjectVersion", "arn:aws:s3:::b/avatars/k")
    listing = {"service": "s3", "operation": "ListObjectsV2", "params": {"Bucket": "b", "Prefix": "avatars/"}}
    assert call_from_record(listing, region="r", account="1") == Call(
        "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "avatars/"})
    scan = {"service": "dynamodb", "operation": "Scan", "params": {"TableName": "t"}}
    assert call_from_record(scan, region="r", account="1").resource == "arn:aws:dynamodb:r:1:table/t"
