"""A small IAM evaluator for the rehearsal: is this recorded AWS call allowed by that policy?

Why it exists: moto's IAM enforcement checks S3 actions against the real object/bucket ARN, but
every other service's action against ``Resource: "*"`` only, and it knows no S3 condition keys
(``s3:prefix``). A least-privilege policy scoped to one table ARN, or a ListBucket limited to a
prefix, is therefore *denied* by the emulator although AWS would allow it. The rehearsal records
the calls the smoke really made and checks each one here against the synthesized statements.

Deliberately small, and strict where it is small: Effect Allow/Deny (an explicit Deny wins),
``Action`` and ``Resource`` with ``*``/``?`` wildcards, and the condition operators
``StringEquals``/``StringLike`` (and ``ArnEquals``/``ArnLike``) over the context keys a call
carries. ``NotAction``, ``NotResource``, any other operator, or an operation this module cannot
name raises ``Unsupported`` instead of guessing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class Unsupported(ValueError):
    pass


@dataclass(frozen=True)
class Call:
    """One AWS request as IAM sees it: action, resource ARN, condition context."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        extra = "".join(f" {k}={v!r}" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}{extra}"


# S3 API operation -> IAM action (the S3 service authorization reference). DynamoDB's IAM
# actions are its operation names.
S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "DeleteBucket": "s3:DeleteBucket",
    "PutBucketPolicy": "s3:PutBucketPolicy",
}
S3_OBJECT_OPERATIONS = {"PutObject", "GetObject", "HeadObject", "DeleteObject"}
DYNAMODB_TABLE_OPERATIONS = {"PutItem", "GetItem", "Scan", "Query", "DescribeTable", "DeleteItem",
                             "UpdateItem", "DeleteTable", "BatchWriteItem"}


def call_from_record(record: Mapping, *, region: str, account: str) -> Call:
    """A line of the call recorder (service, operation, params) -> the Call IAM evaluates."""
    service, operation, params = record["service"], record["operation"], record.get("params", {})
    if service == "s3":
        if operation not in S3_ACTIONS:
            raise Unsupported(f"no IAM action known for s3 {operation}")
        action = S3_ACTIONS[operation]
        if operation == "DeleteObject" and params.get("VersionId"):
            action = "s3:DeleteObjectVersion"
        if operation in S3_OBJECT_OPERATIONS:
            return Call(action, f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")
        context = {"s3:prefix": params["Prefix"]} if "Prefix" in params else {}
        return Call(action, f"arn:aws:s3:::{params['Bucket']}", context)
    if service == "dynamodb":
        if operation not in DYNAMODB_TABLE_OPERATIONS:
            raise Unsupported(f"no resource known for dynamodb {operation}")
        return Call(f"dynamodb:{operation}",
                    f"arn:aws:dynamodb:{region}:{account}:table/{params['TableName']}")
    raise Unsupported(f"service {service} is not modelled")


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, case: bool) -> bool:
    regex = fnmatch.translate(pattern)  # * and ? as IAM means them; [ is literal in ARNs here
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


_OPERATORS = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringLike": lambda expected, actual: _wildcard(expected, actual, case=True),
    "ArnEquals": lambda expected, actual: actual == expected,
    "ArnLike": lambda expected, actual: _wildcard(expected, actual, case=True),
}


def _conditions_hold(conditions: Mapping, context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        if operator not in _OPERATORS:
            raise Unsupported(f"condition operator {operator}")
        for key, expected in tests.items():
            actual = context.get(key)
            if actual is None:  # a missing key never satisfies a (non-IfExists) condition
                return False
            if not any(_OPERATORS[operator](str(e), actual) for e in _as_list(expected)):
                return False
    return True


def _statement_applies(statement: Mapping, call: Call) -> bool:
    for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
        if unsupported in statement:
            raise Unsupported(unsupported)
    actions = _as_list(statement["Action"])
    if not any(_wildcard(a, call.action, case=False) for a in actions):
        return False
    if not any(_wildcard(r, call.resource, case=True) for r in _as_list(statement["Resource"])):
        return False
    return _conditions_hold(statement.get("Condition", {}), call.context)


def allowed(call: Call, documents: Iterable[Mapping]) -> bool:
    """True when some Allow statement of the identity policies matches and no Deny does."""
    statements = [s for doc in documents for s in _as_list(doc["Statement"])]
    matching = [s for s in statements if _statement_applies(s, call)]
    if any(s["Effect"] == "Deny" for s in matching):
        return False
    return any(s["Effect"] == "Allow" for s in matching)
