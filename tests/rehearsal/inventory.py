"""Resource by resource: does what the template declares really exist in the emulator?

moto's CloudFormation answers CREATE_COMPLETE while skipping types it does not model, so a green
deploy proves little. For every resource of a deployed template this module reads the resource
back through its *service* API (not CloudFormation) and compares it with the template's own
properties, resolved against the deployed ids. One ``Check`` per resource; a resource type with
no reader here is itself a finding, so a new resource in a stack cannot pass unseen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from tests.rehearsal.harness import ANSWERED_CUSTOM_RESOURCES, SKIPPED, Deployment, StackRecord


@dataclass
class Check:
    stack: str
    logical_id: str
    kind: str
    physical_id: str
    created_by: str  # "cloudformation" | "api" | "skipped"
    verified: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # property names that differ (see REPAIRS)

    def expect(self, what: str, actual, expected) -> None:
        if actual == expected:
            self.verified.append(what)
        else:
            self.gaps.append(what)
            self.problems.append(f"{what}: emulator has {actual!r}, template says {expected!r}")


def _doc(value):
    return json.loads(value) if isinstance(value, str) else value


def _lifecycle_from_template(rules: list[dict]) -> list[dict]:
    out = []
    for rule in rules:
        canon = {"id": rule.get("Id"), "status": rule["Status"]}
        if "ExpirationInDays" in rule:
            canon["expiration_days"] = rule["ExpirationInDays"]
        if "ExpiredObjectDeleteMarker" in rule:
            canon["expired_object_delete_marker"] = rule["ExpiredObjectDeleteMarker"]
        if "NoncurrentVersionExpiration" in rule:
            canon["noncurrent_days"] = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        if "NoncurrentVersionExpirationInDays" in rule:
            canon["noncurrent_days"] = rule["NoncurrentVersionExpirationInDays"]
        if "AbortIncompleteMultipartUpload" in rule:
            canon["abort_multipart_days"] = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out.append(canon)
    return sorted(out, key=lambda r: r["id"] or "")


def _lifecycle_from_api(rules: list[dict]) -> list[dict]:
    out = []
    for rule in rules:
        canon = {"id": rule.get("ID"), "status": rule["Status"]}
        expiration = rule.get("Expiration", {})
        if "Days" in expiration:
            canon["expiration_days"] = expiration["Days"]
        if "ExpiredObjectDeleteMarker" in expiration:
            canon["expired_object_delete_marker"] = expiration["ExpiredObjectDeleteMarker"]
        if "NoncurrentVersionExpiration" in rule:
            canon["noncurrent_days"] = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        if "AbortIncompleteMultipartUpload" in rule:
            canon["abort_multipart_days"] = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out.append(canon)
    return sorted(out, key=lambda r: r["id"] or "")


def _or_none(call, *missing_codes: str):
    """The answer of a Get* call, or None when the emulator has no such configuration."""
    try:
        return call()
    except ClientError as error:
        if error.response["Error"]["Code"] in missing_codes:
            return None
        raise


def _bucket(d: Deployment, check: Check, name: str, props: dict) -> None:
    s3 = d.client("s3")
    s3.head_bucket(Bucket=name)
    check.verified.append("bucket exists")
    if "BucketEncryption" in props:
        rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        check.expect("default encryption",
                     [r["ApplyServerSideEncryptionByDefault"] for r in rules],
                     [r["ServerSideEncryptionByDefault"] for r in
                      props["BucketEncryption"]["ServerSideEncryptionConfiguration"]])
    if "VersioningConfiguration" in props:
        check.expect("versioning", s3.get_bucket_versioning(Bucket=name).get("Status"),
                     props["VersioningConfiguration"]["Status"])
    if "LifecycleConfiguration" in props:
        try:
            rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        check.expect("lifecycle rules", _lifecycle_from_api(rules),
                     _lifecycle_from_template(props["LifecycleConfiguration"]["Rules"]))
    if "PublicAccessBlockConfiguration" in props:
        block = _or_none(lambda: s3.get_public_access_block(Bucket=name)
                         ["PublicAccessBlockConfiguration"], "NoSuchPublicAccessBlockConfiguration")
        check.expect("public access block", block, props["PublicAccessBlockConfiguration"])
    if "OwnershipControls" in props:
        rules = _or_none(lambda: s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
                         ["Rules"], "OwnershipControlsNotFoundError")
        check.expect("object ownership", rules, props["OwnershipControls"]["Rules"])
    if "LoggingConfiguration" in props:
        logging = s3.get_bucket_logging(Bucket=name).get("LoggingEnabled", {})
        wanted = props["LoggingConfiguration"]
        check.expect("access logging", (logging.get("TargetBucket"), logging.get("TargetPrefix")),
                     (wanted.get("DestinationBucketName"), wanted.get("LogFilePrefix")))
    if "Tags" in props:
        tag_set = _or_none(lambda: s3.get_bucket_tagging(Bucket=name)["TagSet"], "NoSuchTagSet") or []
        tags = {t["Key"]: t["Value"] for t in tag_set}
        wanted = {t["Key"]: t["Value"] for t in props["Tags"]}
        check.expect("tags", {k: tags.get(k) for k in wanted}, wanted)


def _table(d: Deployment, check: Check, name: str, props: dict) -> None:
    dynamodb = d.client("dynamodb")
    table = dynamodb.describe_table(TableName=name)["Table"]
    check.expect("status", table["TableStatus"], "ACTIVE")
    check.expect("key schema", table["KeySchema"], props["KeySchema"])
    if "BillingMode" in props:
        check.expect("billing mode", table.get("BillingModeSummary", {}).get("BillingMode"),
                     props["BillingMode"])
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        check.expect("encryption at rest", table.get("SSEDescription", {}).get("Status"), "ENABLED")
    pitr = props.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        check.expect("point-in-time recovery",
                     backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"], "ENABLED")
    if "DeletionProtectionEnabled" in props:
        check.expect("deletion protection", table.get("DeletionProtectionEnabled", False),
                     props["DeletionProtectionEnabled"])


def _role(d: Deployment, check: Check, name: str, props: dict) -> None:
    iam = d.client("iam")
    role = iam.get_role(RoleName=name)["Role"]
    check.expect("trust policy", _doc(role["AssumeRolePolicyDocument"]), props["AssumeRolePolicyDocument"])
    if "MaxSessionDuration" in props:
        check.expect("max session duration", role.get("MaxSessionDuration"), props["MaxSessionDuration"])
    if "ManagedPolicyArns" in props:
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        check.expect("managed policies", sorted(p["PolicyArn"] for p in attached),
                     sorted(props["ManagedPolicyArns"]))
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    check.verified.append(f"inline policies {sorted(inline)}")


def _policy(d: Deployment, check: Check, props: dict) -> None:
    iam = d.client("iam")
    for role in props.get("Roles", []):
        stored = iam.get_role_policy(RoleName=role, PolicyName=props["PolicyName"])
        check.expect(f"policy document on role {role}", _doc(stored["PolicyDocument"]),
                     props["PolicyDocument"])


def _function(d: Deployment, check: Check, name: str, props: dict) -> None:
    config = d.client("lambda").get_function(FunctionName=name)["Configuration"]
    check.expect("runtime", config["Runtime"], props["Runtime"])
    check.expect("handler", config["Handler"], props["Handler"])
    check.expect("execution role", config["Role"], props["Role"])
    code = props["Code"]
    d.client("s3").head_object(Bucket=code["S3Bucket"], Key=code["S3Key"])
    check.verified.append("code published to the bootstrap bucket by cdk deploy")


def _repository(d: Deployment, check: Check, name: str, props: dict) -> None:
    [repo] = d.client("ecr").describe_repositories(repositoryNames=[name])["repositories"]
    if "ImageTagMutability" in props:
        check.expect("tag mutability", repo["imageTagMutability"], props["ImageTagMutability"])
    if "ImageScanningConfiguration" in props:
        check.expect("scan on push", repo.get("imageScanningConfiguration", {}).get("scanOnPush"),
                     props["ImageScanningConfiguration"]["ScanOnPush"])


def _bucket_policy(d: Deployment, check: Check, props: dict) -> None:
    stored = d.client("s3").get_bucket_policy(Bucket=props["Bucket"])["Policy"]
    check.expect("bucket policy document", _doc(stored), props["PolicyDocument"])


def _origin_access_control(d: Deployment, check: Check, control_id: str, props: dict) -> None:
    stored = d.client("cloudfront").get_origin_access_control(Id=control_id)["OriginAccessControl"]
    check.expect("origin access control config", stored["OriginAccessControlConfig"],
                 props["OriginAccessControlConfig"])


def _distribution(d: Deployment, check: Check, distribution_id: str, props: dict) -> None:
    stored = d.client("cloudfront").get_distribution(Id=distribution_id)["Distribution"]
    config, cfn = stored["DistributionConfig"], props["DistributionConfig"]
    check.expect("enabled", config["Enabled"], cfn["Enabled"])
    check.expect("origins", [(o["Id"], o["DomainName"]) for o in config["Origins"]["Items"]],
                 [(o["Id"], o["DomainName"]) for o in cfn["Origins"]])
    check.expect("origin access control",
                 [o.get("OriginAccessControlId") for o in config["Origins"]["Items"]],
                 [o.get("OriginAccessControlId") for o in cfn["Origins"]])
    behavior, wanted = config["DefaultCacheBehavior"], cfn["DefaultCacheBehavior"]
    check.expect("viewer protocol", behavior["ViewerProtocolPolicy"], wanted["ViewerProtocolPolicy"])
    check.expect("allowed methods", sorted(behavior["AllowedMethods"]["Items"]),
                 sorted(wanted["AllowedMethods"]))
    check.expect("cache policy", behavior["CachePolicyId"], wanted["CachePolicyId"])
    check.expect("price class", config["PriceClass"], cfn["PriceClass"])
    check.verified.append(f"domain {stored['DomainName']}")


def _custom(d: Deployment, check: Check, record: StackRecord, props: dict) -> None:
    if check.logical_id not in record.answered:
        check.problems.append("its Create was never answered")
    else:
        check.verified.append("Create answered by the rehearsal (handler not run)")
    d.client("lambda").get_function(FunctionName=props["ServiceToken"])
    check.verified.append("handler function exists")
    if "BucketName" in props:
        d.client("s3").head_bucket(Bucket=props["BucketName"])
        check.verified.append("its bucket exists")


def verify(d: Deployment, record: StackRecord) -> list[Check]:
    checks = []
    for logical_id, resource in record.resources().items():
        kind = resource["Type"]
        if logical_id.startswith("CDKMetadata"):
            continue
        if logical_id in record.api_ids:
            created_by = "api"
        elif logical_id in record.cloudformation_ids:
            created_by = "cloudformation"
        else:
            created_by = "skipped"
        physical = record.physical_ids().get(logical_id, "")
        check = Check(record.name, logical_id, kind, physical, created_by)
        checks.append(check)
        if created_by == "skipped":
            if kind in SKIPPED:
                check.verified.append(f"skipped on purpose: {SKIPPED[kind]}")
            else:
                check.problems.append("not created by the emulator and not handled")
            continue
        try:
            props = d.resolved_properties(record, logical_id)
            if kind == "AWS::S3::Bucket":
                _bucket(d, check, physical, props)
            elif kind == "AWS::DynamoDB::Table":
                _table(d, check, physical, props)
            elif kind == "AWS::IAM::Role":
                _role(d, check, physical, props)
            elif kind == "AWS::IAM::Policy":
                _policy(d, check, props)
            elif kind == "AWS::Lambda::Function":
                _function(d, check, physical, props)
            elif kind == "AWS::ECR::Repository":
                _repository(d, check, physical, props)
            elif kind == "AWS::S3::BucketPolicy":
                _bucket_policy(d, check, props)
            elif kind == "AWS::CloudFront::OriginAccessControl":
                _origin_access_control(d, check, physical, props)
            elif kind == "AWS::CloudFront::Distribution":
                _distribution(d, check, physical, props)
                for key in record.dropped.get(logical_id, []):
                    check.verified.append(f"created without {key} (its resource is SKIPPED)")
            elif kind in ANSWERED_CUSTOM_RESOURCES:
                _custom(d, check, record, props)
            else:
                check.problems.append("no reader for this type in tests/rehearsal/inventory.py")
        except ClientError as error:
            check.problems.append(f"read back failed: {error}")
    return checks


# ---------------------------------------------------------------------- repairs
# Properties moto's CloudFormation accepts and silently does not apply. The rehearsal applies
# each through the service API, from the template's resolved value, and reports it.

def _lifecycle_rule_for_api(rule: dict) -> dict:
    out: dict = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    expiration = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = rule["ExpirationInDays"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = rule["ExpiredObjectDeleteMarker"]
    if expiration:
        out["Expiration"] = expiration
    if "NoncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return out


def _repair_versioning(d: Deployment, name: str, props: dict) -> None:
    d.client("s3").put_bucket_versioning(
        Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]})


def _repair_lifecycle(d: Deployment, name: str, props: dict) -> None:
    rules = [_lifecycle_rule_for_api(r) for r in props["LifecycleConfiguration"]["Rules"]]
    d.client("s3").put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": rules})


def _repair_pitr(d: Deployment, name: str, props: dict) -> None:
    spec = props["PointInTimeRecoverySpecification"]
    wanted = {"PointInTimeRecoveryEnabled": True}
    if "RecoveryPeriodInDays" in spec:
        wanted["RecoveryPeriodInDays"] = spec["RecoveryPeriodInDays"]
    d.client("dynamodb").update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification=wanted)


def _repair_public_access_block(d: Deployment, name: str, props: dict) -> None:
    d.client("s3").put_public_access_block(
        Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])


def _repair_ownership(d: Deployment, name: str, props: dict) -> None:
    d.client("s3").put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": props["OwnershipControls"]["Rules"]})


def _repair_logging(d: Deployment, name: str, props: dict) -> None:
    wanted = props["LoggingConfiguration"]
    d.client("s3").put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": wanted["DestinationBucketName"], "TargetPrefix": wanted.get("LogFilePrefix", "")}})


def _repair_bucket_tags(d: Deployment, name: str, props: dict) -> None:
    d.client("s3").put_bucket_tagging(Bucket=name, Tagging={"TagSet": props["Tags"]})


def _repair_scan_on_push(d: Deployment, name: str, props: dict) -> None:
    d.client("ecr").put_image_scanning_configuration(
        repositoryName=name,
        imageScanningConfiguration={"scanOnPush": props["ImageScanningConfiguration"]["ScanOnPush"]})


REPAIRS = {
    ("AWS::S3::Bucket", "public access block"): _repair_public_access_block,
    ("AWS::S3::Bucket", "object ownership"): _repair_ownership,
    ("AWS::S3::Bucket", "access logging"): _repair_logging,
    ("AWS::S3::Bucket", "tags"): _repair_bucket_tags,
    ("AWS::ECR::Repository", "scan on push"): _repair_scan_on_push,
    ("AWS::S3::Bucket", "versioning"): _repair_versioning,
    ("AWS::S3::Bucket", "lifecycle rules"): _repair_lifecycle,
    ("AWS::DynamoDB::Table", "point-in-time recovery"): _repair_pitr,
}
# Differences nothing here can repair, each with its reason (the README lists them).
UNREPAIRABLE = {
    ("AWS::CloudFront::Distribution", "origin access control"): "moto's CreateDistribution "
    "accepts an origin's OriginAccessControlId but does not store it; the template's OAC wiring "
    "is asserted in tests/cdk",
    ("AWS::DynamoDB::Table", "encryption at rest"): "moto's CloudFormation ignores SSESpecification "
    "and its UpdateTable cannot set it; the synthesized template's SSE is asserted in tests/cdk",
    ("AWS::IAM::Role", "managed policies"): "AWS managed policies (here AWSLambdaBasicExecutionRole "
    "of CDK's clean-up function) do not exist in the emulator, so they cannot be attached",
}


@dataclass
class Inventory:
    """The first read-back (what moto's CloudFormation made), the repairs, the final read-back."""

    first: list[Check]
    repaired: list[tuple[str, str, str]]  # (logical id, type, property) applied through the API
    final: list[Check]

    def unexplained(self) -> list[str]:
        """Problems of the final read-back that are not a listed UNREPAIRABLE difference."""
        out = []
        for check in self.final:
            listed = {what for what in check.gaps if (check.kind, what) in UNREPAIRABLE}
            for problem in check.problems:
                if problem.split(":", 1)[0] not in listed:
                    out.append(f"{check.stack} {check.logical_id} ({check.kind}): {problem}")
        return out


def verify_and_repair(d: Deployment, record: StackRecord) -> Inventory:
    first = verify(d, record)
    repaired = []
    for check in first:
        for what in check.gaps:
            repair = REPAIRS.get((check.kind, what))
            if repair is None:
                continue  # stays a problem in the final read-back (or is UNREPAIRABLE)
            repair(d, check.physical_id, d.resolved_properties(record, check.logical_id))
            repaired.append((check.logical_id, check.kind, what))
    return Inventory(first=first, repaired=repaired, final=verify(d, record))
