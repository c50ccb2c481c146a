"""Serverless stack (opt-in): the same Chalice app as a Lambda function behind API Gateway.

``users-api-<env>-serverless``, added to the app only with ``-c serverless=true`` (``make
deploy-serverless`` passes it), so ``make synth`` and ``make deploy`` are unchanged. It uses the
data stack's table and bucket and the avatar CDN's domain, and owns:

- the function: handler ``app.app``, the very Chalice app object of api/app.py, from a bundle
  built by api/devtools/lambda_bundle.py (manylinux wheels of requirements.lock; no Docker),
  with the runtime and architecture the bundle's wheels are for (python3.12, arm64 by default;
  why not 3.11: see that module); its log group with a retention;
- its execution role, trusted by lambda.amazonaws.com, with exactly the pod role's data
  permissions: the data stack's own policy document, not a copy of it;
- a REST API (Lambda proxy integration: the event format Chalice speaks) whose resources are
  the app's routes as the bundle's apigateway.json lists them, with the access rules, binary
  media types and gateway responses of serverless_api.py, throttling, JSON access logs.

Synth reads the bundle directory and never builds it, so it stays offline: the tests synthesize
from a bundle without the wheels (``lambda_bundle.py --no-dependencies``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IValidation, Node

from users_api_infra import serverless_api as gateway
from users_api_infra.nag import acknowledge
from users_api_infra.settings import SettingsError
from users_api_infra.versions import AVATARS_PREFIX

CDK_DIR = Path(__file__).resolve().parents[1]
# Where `make serverless-bundle` writes the function's code (relative paths: from cdk/).
DEFAULT_BUNDLE_DIR = "build/serverless-bundle"
HANDLER = "app.app"
STAGE_NAME = "api"


@dataclass(frozen=True)
class ServerlessSettings:
    """The serverless target's knobs: per-environment defaults, a few overridable by context.

    ``serverless``                    "true" adds the stack to the app (default: not added)
    ``serverlessBundle``              the built bundle directory (default cdk/build/serverless-bundle)
    ``serverlessReservedConcurrency`` reserve (and cap) this many concurrent executions
    """

    bundle_dir: Path
    memory_mb: int
    throttle_rate: float  # steady requests per second, whole stage
    throttle_burst: int
    reserved_concurrency: int | None = None


_DEFAULTS = {
    # 1024 MB: the decoded-pixel budget (AVATAR_MAX_PIXELS) needs ~100 MB per upload, and CPU
    # grows with memory (1024 MB is ~0.6 vCPU), which is what image decoding waits on.
    "dev": {"memory_mb": 1024, "throttle_rate": 20, "throttle_burst": 40},
    "prod": {"memory_mb": 1024, "throttle_rate": 200, "throttle_burst": 400},
}


def enabled(node: Node) -> bool:
    return str(node.try_get_context("serverless") or "").lower() in ("1", "true", "yes")


def serverless_settings(env_name: str, node: Node) -> ServerlessSettings:
    raw_dir = node.try_get_context("serverlessBundle") or DEFAULT_BUNDLE_DIR
    bundle_dir = Path(str(raw_dir))
    bundle_dir = bundle_dir if bundle_dir.is_absolute() else CDK_DIR / bundle_dir
    raw_reserved = node.try_get_context("serverlessReservedConcurrency")
    reserved = None
    if raw_reserved not in (None, ""):
        try:
            reserved = int(raw_reserved)
        except (TypeError, ValueError):
            raise SettingsError(
                f"serverlessReservedConcurrency must be an integer, got {raw_reserved!r}") from None
        if reserved < 1:
            raise SettingsError(f"serverlessReservedConcurrency must be positive, got {reserved}")
    return ServerlessSettings(bundle_dir=bundle_dir, reserved_concurrency=reserved,
                              **_DEFAULTS[env_name])


# What the bundle's wheels can be built for (api/devtools/lambda_bundle.py), as Lambda names it.
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
RUNTIMES = {"3.12": lambda_.Runtime.PYTHON_3_12}


def read_manifest(bundle_dir: Path) -> dict:
    path = bundle_dir / gateway.MANIFEST
    if not path.is_file():
        raise SettingsError(
            f"no {gateway.MANIFEST} in {bundle_dir}: build the function's code first "
            "(make serverless-bundle), or pass -c serverlessBundle=DIR")
    manifest = json.loads(path.read_text())
    if manifest.get("architecture", "arm64") not in ARCHITECTURES or \
            manifest.get("python", "3.12") not in RUNTIMES:
        raise SettingsError(f"{path}: a bundle for {manifest.get('architecture')} / Python "
                            f"{manifest.get('python')}, which this stack cannot run")
    return manifest


class ServerlessStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        serverless: ServerlessSettings,
        table: dynamodb.ITable,
        avatars_bucket: s3.IBucket,
        data_policy: iam.PolicyDocument,
        avatar_base_url: str | None,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        manifest = read_manifest(serverless.bundle_dir)
        self.function_name = f"users-api-{env_name}"

        # ---------------------------------------------------------------- execution role
        self.role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"users-api {env_name} Lambda function: the web pods' data permissions",
            max_session_duration=Duration.hours(1),
        )
        # The data stack's own document object: the pod role's permissions, by construction.
        self.data_policy = iam.Policy(self, "DataAccess", roles=[self.role], document=data_policy)
        self.data_policy.node.add_validation(_AcknowledgeSharedWildcards(self.data_policy))

        self.function_logs = logs.LogGroup(
            self, "FunctionLogs",
            log_group_name=f"/aws/lambda/{self.function_name}",
            retention=log_retention,
            removal_policy=removal_policy,
        )
        logs_policy = iam.Policy(self, "WriteOwnLogs", roles=[self.role], statements=[
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.function_logs.log_group_arn],
            ),
        ])
        acknowledge(
            logs_policy,
            "AwsSolutions-IAM5",
            "Log streams are created by the Lambda service per execution environment with names "
            "nobody knows in advance; the wildcard is the streams of this one log group.",
        )

        # ---------------------------------------------------------------- the function
        environment = {
            "USERS_TABLE": table.table_name,
            "AVATARS_BUCKET": avatars_bucket.bucket_name,
            "LOG_LEVEL": "INFO",
        }
        if avatar_base_url:
            environment["AVATAR_BASE_URL"] = avatar_base_url
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=self.function_name,
            description=f"users-api {env_name}: the Chalice app (api/app.py) behind API Gateway",
            runtime=RUNTIMES[manifest.get("python", "3.12")],
            architecture=ARCHITECTURES[manifest.get("architecture", "arm64")],
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(serverless.bundle_dir)),
            memory_size=serverless.memory_mb,
            timeout=Duration.seconds(gateway.FUNCTION_TIMEOUT_SECONDS),
            role=self.role,
            log_group=self.function_logs,
            environment=environment,
            reserved_concurrent_executions=serverless.reserved_concurrency,
        )
        self.function.node.add_dependency(self.data_policy, logs_policy)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "python3.12, not the newest runtime: the nearest to the 3.11 the lock and the image are "
            "tested on that runs the locked Pillow wheels (glibc 2.28); see lambda_bundle.py.",
        )

        # ---------------------------------------------------------------- the REST API
        self.access_logs = logs.LogGroup(
            self, "ApiAccessLogs", retention=log_retention, removal_policy=removal_policy)
        binary_types = sorted({gateway.CATCH_ALL_BINARY, *manifest["binary_types"]})
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=self.function_name,
            description=f"users-api {env_name}: the app's routes, Lambda proxy integration",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=binary_types,
            # The account-wide role API Gateway needs to write any log (access logs included).
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=serverless.throttle_rate,
                throttling_burst_limit=serverless.throttle_burst,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(gateway.access_log_format()),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
            ),
        )
        integration = apigw.LambdaIntegration(
            self.function,
            proxy=True,
            timeout=Duration.seconds(gateway.INTEGRATION_TIMEOUT_SECONDS),
            allow_test_invoke=False,
        )
        self.routes: dict[str, str] = {}
        for path in sorted(manifest["routes"]):
            access = gateway.access_of(path)
            self.routes[path] = access
            if access == gateway.NOT_ROUTED:
                continue
            # ANY: a wrong method reaches the app, which answers its JSON 405 with Allow.
            self.api.root.resource_for_path(path).add_method(
                "ANY",
                integration,
                authorization_type=(apigw.AuthorizationType.IAM if access == gateway.SIGNED
                                    else apigw.AuthorizationType.NONE),
            )
        for answer in gateway.GATEWAY_ANSWERS:
            self.api.add_gateway_response(
                f"Gateway{answer.response_type.title().replace('_', '')}",
                type=apigw.ResponseType.of(answer.response_type),
                status_code=None if answer.status is None else str(answer.status),
                response_headers=gateway.gateway_headers(answer),
                templates={"application/json": gateway.gateway_template(answer)},
            )
        self._acknowledgements()
        Tags.of(self).add("target", "serverless")

        from aws_cdk import CfnOutput

        CfnOutput(self, "ApiUrl", value=self.api.url,
                  description="Base URL of the serverless API (stage /api)")
        CfnOutput(self, "FunctionName", value=self.function.function_name,
                  description="The Lambda function (logs: /aws/lambda/<name>)")

    def _acknowledgements(self) -> None:
        for rule, reason in (
            ("AwsSolutions-APIG2",
             "Requests are validated by the app itself (multipart form, fields, paging) with the "
             "API's JSON errors; an API Gateway model would be a second copy of those rules."),
            ("AwsSolutions-APIG3",
             "No WAF in front of the API by default: stage throttling bounds the request rate, "
             "and a web ACL (about $6/month plus per request) is the operator's choice to add."),
            ("AwsSolutions-APIG4",
             "A public API by design, as on EKS: GET /users and POST /user take no credentials. "
             "/readyz alone is signed (AWS_IAM), and /metrics is not routed."),
            ("AwsSolutions-COG4",
             "A public API by design: there are no users to sign in with a Cognito user pool; "
             "the one private route (/readyz) uses AWS_IAM authorization instead."),
        ):
            acknowledge(self.api, rule, reason)
        acknowledge(
            self.api.node.find_child("CloudWatchRole"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-wide CloudWatch role, created by aws-cdk-lib with the AWS "
            "managed policy that is the documented way to let API Gateway write access logs.",
        )


@jsii.implements(IValidation)
class _AcknowledgeSharedWildcards:
    """Acknowledges AwsSolutions-IAM5 for the wildcards of the shared data policy.

    cdk-nag names a finding by the resolved resource, and here that is a cross-stack reference
    to the bucket, whose form is only known once CDK has resolved references (the last step
    before construct validation, which is where this runs). Only resources ending in the
    avatars/ prefix wildcard are acknowledged, the same finding the data stack acknowledges
    for the pod role; any other wildcard stays a finding.
    """

    REASON = ("The pod role's avatars/* object prefix, shared with the data stack's policy: object "
              "keys are server-generated, so the wildcard stays on the avatars/ prefix of one bucket.")

    def __init__(self, policy: iam.Policy) -> None:
        self.policy = policy

    def validate(self) -> list[str]:
        resolved = Stack.of(self.policy).resolve(self.policy.document)
        for statement in resolved.get("Statement", []):
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                finding = _nag_resource_name(resource)
                if finding.endswith("/" + AVATARS_PREFIX + "*"):
                    rule_id = f"AwsSolutions-IAM5[Resource::{finding}]"
                    acknowledge(self.policy, rule_id, self.REASON)
                    self._record(rule_id)
        return []

    def _record(self, rule_id: str) -> None:
        # cdk-nag copies acknowledgements into the template's Metadata before this runs, so this
        # one is copied here: the audit trail next to the resource, like every other one.
        resource = self.policy.node.default_child
        recorded = resource.get_metadata("cdk_nag") or {"rules_to_suppress": []}
        rules = [r for r in recorded["rules_to_suppress"] if r["id"] != rule_id]
        resource.add_metadata("cdk_nag", {
            "rules_to_suppress": [*rules, {"id": rule_id, "reason": self.REASON}]})


def _nag_resource_name(resource) -> str:
    """The resource as cdk-nag's IAM5 prints it: Fn::Join flattened, GetAtt as <Id.Attr>, any
    other intrinsic as its JSON."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Join" in resource:
        separator, parts = resource["Fn::Join"]
        return separator.join(_nag_resource_name(part) for part in parts)
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return "<" + ".".join(resource["Fn::GetAtt"]) + ">"
    if isinstance(resource, dict) and "Ref" in resource:
        return "<" + resource["Ref"] + ">"
    return json.dumps(resource, separators=(",", ":"))


def add_serverless_stack(app: Construct, settings, data, avatars_cdn=None, **common
                         ) -> ServerlessStack | None:
    """The app builder's one call: the stack when ``-c serverless=true``, else nothing."""
    if not enabled(app.node):
        return None
    distribution = getattr(avatars_cdn, "distribution", None)
    stack = ServerlessStack(
        app,
        settings.stack_name("serverless"),
        env_name=settings.name,
        serverless=serverless_settings(settings.name, app.node),
        table=data.table,
        avatars_bucket=data.avatars_bucket,
        data_policy=data.app_policy.document,
        avatar_base_url=(f"https://{distribution.distribution_domain_name}"
                         if distribution is not None else None),
        log_retention=settings.log_retention,
        removal_policy=settings.removal_policy,
        description=f"users-api {settings.name}: the app as a Lambda function behind API Gateway",
        **common,
    )
    Tags.of(stack).add("project", "users-api")
    Tags.of(stack).add("environment", settings.name)
    return stack
