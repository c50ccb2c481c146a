"""The serverless stack (users-api-<env>-serverless), synthesized offline: template assertions
(what the emulator cannot show: gateway responses, stage settings), cdk-nag and cfn-lint."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match, Template

from chalicelib.adapters.aws import CLIENT_CONFIG
from tests.cdk.cfn import of_type, one, props, statements
from users_api_infra import serverless_api as gateway
from users_api_infra.nag import MIN_REASON_LENGTH

pytestmark = pytest.mark.slow
ENVS = ("dev", "prod")
# Rule families the serverless stack acknowledges, each for a reason given at the call.
ALLOWED_ACKNOWLEDGEMENTS = {"AwsSolutions-IAM5", "AwsSolutions-IAM4", "AwsSolutions-L1",
                            "AwsSolutions-APIG2", "AwsSolutions-APIG3", "AwsSolutions-APIG4",
                            "AwsSolutions-COG4"}


@pytest.fixture(params=ENVS)
def env(request) -> str:
    return request.param


@pytest.fixture
def stack(serverless_synth, env) -> dict:
    return serverless_synth[env].templates["serverless"]


@pytest.fixture
def manifest(serverless_synth) -> dict:
    return json.loads((serverless_synth["dev"].bundle / gateway.MANIFEST).read_text())


def resource_paths(template: dict) -> dict[str, str]:
    """logical id of each AWS::ApiGateway::Resource -> its full path."""
    resources = of_type(template, "AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        resource = props(resources[logical_id])
        parent = resource["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path_of(parent["Ref"])
        return f"{prefix}/{resource['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in resources}


# ------------------------------------------------------------------------------ the function
def test_the_function_runs_the_app_object(stack, env, manifest):
    _, function = one(stack, "AWS::Lambda::Function")
    p = props(function)
    assert p["Handler"] == "app.app"
    # What the bundle's wheels were built for.
    assert (manifest["architecture"], manifest["python"]) == ("arm64", "3.12")
    assert p["Runtime"] == "python3.12" and p["Architectures"] == ["arm64"]
    assert p["FunctionName"] == f"users-api-{env}"
    assert p["MemorySize"] == 1024
    variables = p["Environment"]["Variables"]
    assert set(variables) == {"USERS_TABLE", "AVATARS_BUCKET", "AVATAR_BASE_URL", "LOG_LEVEL"}
    # The names come from the data stack, by reference; the upload limit is the app's default.
    assert "PublishOutputRefUsersTable" in json.dumps(variables["USERS_TABLE"])
    assert "PublishOutputRefAvatarsBucket" in json.dumps(variables["AVATARS_BUCKET"])
    # The avatar CDN's domain, as the EKS target gets it (AvatarBaseUrl).
    base_url = variables["AVATAR_BASE_URL"]["Fn::Join"][1]
    assert base_url[0] == "https://"
    assert base_url[1]["Fn::GetStackOutput"]["StackName"] == f"users-api-{env}-avatars-cdn"
    assert "AvatarsDistribution" in base_url[1]["Fn::GetStackOutput"]["OutputName"]


def sdk_budget_of_one_call() -> float:
    """botocore's standard retry mode: `max_attempts` retries after the first attempt (botocore
    rewrites it as total_max_attempts), each attempt up to connect + read timeout, and before
    retry n a back-off of at most 2**(n-1) s."""
    retries = dict(CLIENT_CONFIG.retries)
    attempts = retries.get("total_max_attempts") or retries["max_attempts"] + 1
    back_off = sum(2 ** n for n in range(attempts - 1))
    return attempts * (CLIENT_CONFIG.connect_timeout + CLIENT_CONFIG.read_timeout) + back_off


def test_the_timeouts_are_ordered(stack):
    """The request's backend budget < the function's timeout < API Gateway's integration timeout."""
    from chalicelib import config

    _, function = one(stack, "AWS::Lambda::Function")
    timeout = props(function)["Timeout"]
    methods = of_type(stack, "AWS::ApiGateway::Method")
    integration_ms = {props(m)["Integration"]["TimeoutInMillis"] for m in methods.values()}
    assert integration_ms == {gateway.INTEGRATION_TIMEOUT_SECONDS * 1000}
    assert timeout < gateway.INTEGRATION_TIMEOUT_SECONDS
    deadline = getattr(config, "MAX_BACKEND_DEADLINE_SECONDS", None)
    if deadline is None:
        # Before the per-request deadline (issue 11): one call alone may outlast API Gateway,
        # which then answers with its JSON 504 (INTEGRATION_TIMEOUT). Documented, and checked
        # here so this branch goes when the deadline comes.
        assert sdk_budget_of_one_call() > gateway.INTEGRATION_TIMEOUT_SECONDS
    else:
        # Every call of a request within the deadline, plus up to 2 s of connect and back-off.
        assert deadline + 2 < timeout


@pytest.mark.parametrize(("env_name", "reserved"), [("dev", None), ("prod", 50)])
def test_reserved_concurrency_is_optional(serverless_synth, env_name, reserved):
    _, function = one(serverless_synth[env_name].templates["serverless"], "AWS::Lambda::Function")
    assert props(function).get("ReservedConcurrentExecutions") == reserved


def test_log_groups_have_a_retention(stack, env):
    days = {"dev": 30, "prod": 365}[env]
    groups = of_type(stack, "AWS::Logs::LogGroup")
    assert len(groups) == 2
    assert {props(g)["RetentionInDays"] for g in groups.values()} == {days}
    _, function = one(stack, "AWS::Lambda::Function")
    assert props(function)["LoggingConfig"]["LogGroup"]["Ref"] in groups


# ------------------------------------------------------------------------------ the role
def test_the_role_is_lambdas_and_has_exactly_the_pod_roles_data_permissions(serverless_synth, env):
    templates = serverless_synth[env].templates
    roles = of_type(templates["serverless"], "AWS::IAM::Role")
    function_role_id = props(one(templates["serverless"], "AWS::Lambda::Function")[1])["Role"][
        "Fn::GetAtt"][0]
    trust = props(roles[function_role_id])["AssumeRolePolicyDocument"]
    assert statements(trust) == [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                  "Principal": {"Service": "lambda.amazonaws.com"}}]
    policies = {k: v for k, v in of_type(templates["serverless"], "AWS::IAM::Policy").items()
                if props(v)["Roles"] == [{"Ref": function_role_id}]}
    data_access = next(p for k, p in policies.items() if k.startswith("DataAccess"))
    logs_only = next(p for k, p in policies.items() if k.startswith("WriteOwnLogs"))
    assert len(policies) == 2

    _, pod_policy = one(templates["data"], "AWS::IAM::Policy", "AppPolicy")

    def normalized(statement_list):
        # The same resources, seen from two stacks: GetAtt in the data stack, a reference to
        # its published output here. Compare by the logical id they point at.
        text = json.dumps(statement_list, sort_keys=True)
        text = re.sub(r'\{"Fn::GetStackOutput": \{"OutputName": "PublishOutputFnGetAtt(\w+?)Arn'
                      r'[0-9A-F]{8}", "Region": \{"Ref": "AWS::Region"\}, "StackName": "[\w-]+"\}\}',
                      r'{"Fn::GetAtt": ["\1", "Arn"]}', text)
        return json.loads(text)

    assert normalized(statements(props(data_access)["PolicyDocument"])) == statements(
        props(pod_policy)["PolicyDocument"])
    [write_logs] = statements(props(logs_only)["PolicyDocument"])
    assert sorted(write_logs["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert "FunctionLogs" in json.dumps(write_logs["Resource"])


def test_the_data_stack_gains_outputs_only(serverless_synth, cdk_templates):
    """With the opt-in, the data stack's resources are exactly those of a normal synth."""
    with_serverless = serverless_synth["dev"].templates["data"]
    assert with_serverless["Resources"] == cdk_templates["dev"]["data"]["Resources"]
    added = set(with_serverless["Outputs"]) - set(cdk_templates["dev"]["data"]["Outputs"])
    assert added and all(name.startswith("PublishOutput") for name in added)


# ------------------------------------------------------------------------------ the REST API
def test_every_app_route_is_a_resource_except_the_unrouted(stack, manifest):
    paths = resource_paths(stack)
    routed = {path for path in manifest["routes"] if gateway.access_of(path) != gateway.NOT_ROUTED}
    # Parents of nested routes exist as plain path segments too (/swagger for /swagger/{asset}).
    methods = of_type(stack, "AWS::ApiGateway::Method")
    with_method = {paths[props(m)["ResourceId"]["Ref"]]: props(m) for m in methods.values()}
    assert set(with_method) == routed
    assert "/metrics" not in paths.values()
    _, function = one(stack, "AWS::Lambda::Function")
    for path, method in with_method.items():
        assert method["HttpMethod"] == "ANY", path  # a wrong method gets the app's own 405
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert "Function" in json.dumps(method["Integration"]["Uri"])
        expected = "AWS_IAM" if gateway.access_of(path) == gateway.SIGNED else "NONE"
        assert method["AuthorizationType"] == expected, path
    assert with_method["/readyz"]["AuthorizationType"] == "AWS_IAM"


def test_binary_media_types(stack, manifest):
    _, api = one(stack, "AWS::ApiGateway::RestApi")
    types = props(api)["BinaryMediaTypes"]
    assert "*/*" in types and "multipart/form-data" in types and "image/png" in types
    assert set(manifest["binary_types"]) <= set(types)
    assert props(api)["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_stage_throttling_and_json_access_logs(serverless_synth, env):
    template = Template.from_json(serverless_synth[env].templates["serverless"])
    rate, burst = {"dev": (20, 40), "prod": (200, 400)}[env]
    template.has_resource_properties("AWS::ApiGateway::Stage", {
        "StageName": "api",
        "MethodSettings": [Match.object_like({
            "HttpMethod": "*", "ResourcePath": "/*", "ThrottlingRateLimit": rate,
            "ThrottlingBurstLimit": burst, "LoggingLevel": "ERROR", "MetricsEnabled": True,
            "DataTraceEnabled": False})],
        "AccessLogSetting": {"DestinationArn": Match.any_value(),
                             "Format": gateway.access_log_format()},
    })
    # The format is JSON once API Gateway has put its values in, with the app log's keys.
    sample = {"$context.status": "404", "$context.responseLatency": "12"}
    line = gateway.access_log_format()
    for variable, value in sample.items():
        line = line.replace(variable, value)
    line = re.sub(r"\$context\.[\w.]+", "-", line)
    parsed = json.loads(line)
    assert {"request_id", "method", "route", "status", "duration_ms"} <= set(parsed)
    assert parsed["status"] == 404 and parsed["duration_ms"] == 12


def test_gateway_responses_speak_the_error_shape(stack):
    responses = {props(r)["ResponseType"]: props(r)
                 for r in of_type(stack, "AWS::ApiGateway::GatewayResponse").values()}
    assert set(responses) == {a.response_type for a in gateway.GATEWAY_ANSWERS}
    assert {"MISSING_AUTHENTICATION_TOKEN", "REQUEST_TOO_LARGE", "THROTTLED",
            "INTEGRATION_TIMEOUT", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for answer in gateway.GATEWAY_ANSWERS:
        response = responses[answer.response_type]
        assert response.get("StatusCode") == (None if answer.status is None else str(answer.status))
        template = response["ResponseTemplates"]["application/json"]
        body = json.loads(template.replace("$context.error.messageString", '"API Gateway says"'))
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "request_id"}
        assert body["error"]["code"] == answer.code
        assert body["error"]["request_id"] == "$context.requestId"
        headers = response["ResponseParameters"]
        assert headers["gatewayresponse.header.X-Content-Type-Options"] == "'nosniff'"
        assert headers["gatewayresponse.header.Cache-Control"] == "'no-store'"
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"][
        "application/json"])["error"]["code"] == "not_found"
    assert responses["REQUEST_TOO_LARGE"]["StatusCode"] == "413"
    assert responses["THROTTLED"]["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_it_deploys_after_the_data_and_cdn_stacks_only(serverless_synth, env):
    manifest = json.loads((serverless_synth[env].outdir / "manifest.json").read_text())
    deps = manifest["artifacts"][f"users-api-{env}-serverless"]["dependencies"]
    stacks = {d for d in deps if not d.endswith(".assets")}
    assert stacks == {f"users-api-{env}-data", f"users-api-{env}-avatars-cdn"}


def test_outputs(stack):
    assert set(stack["Outputs"]) >= {"ApiUrl", "FunctionName"}


# ------------------------------------------------------------------------------ nag and lint
def test_cdk_nag_and_validation_are_clean(serverless_synth, env):
    result = serverless_synth[env]
    assert result.validation_error is None, result.validation_error
    report = result.validation_report or {"pluginReports": []}
    assert [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])] == []


def test_every_acknowledgement_is_expected_and_reasoned(stack):
    found = []
    for logical_id, resource in stack["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            found.append((logical_id, rule["id"]))
            assert rule["id"].split("[", 1)[0] in ALLOWED_ACKNOWLEDGEMENTS, (logical_id, rule["id"])
            assert len(rule["reason"]) >= MIN_REASON_LENGTH
    iam5 = [rule for logical_id, rule in found if rule.startswith("AwsSolutions-IAM5")
            and logical_id.startswith("DataAccess")]
    # Only the avatars/ prefix is a wildcard in the shared data policy.
    assert iam5 and all(rule.endswith("/avatars/*]") for rule in iam5)


def test_cfn_lint_is_clean(serverless_synth, env):
    result = serverless_synth[env].cfn_lint
    assert result["templates"] == [f"users-api-{env}-serverless.template.json"]
    assert result["findings"] == []


# ------------------------------------------------------------------------------ the opt-in
def test_the_stack_is_opt_in_and_needs_a_built_bundle(tmp_path):
    import aws_cdk as cdk

    from users_api_infra.serverless_stack import enabled, read_manifest
    from users_api_infra.settings import SettingsError

    assert not enabled(cdk.App().node)
    assert not enabled(cdk.App(context={"serverless": "false"}).node)
    assert enabled(cdk.App(context={"serverless": "true"}).node)
    with pytest.raises(SettingsError, match="make serverless-bundle"):
        read_manifest(tmp_path)
    (tmp_path / gateway.MANIFEST).write_text(json.dumps(
        {"routes": {}, "binary_types": [], "architecture": "s390x", "python": "3.12"}))
    with pytest.raises(SettingsError, match="cannot run"):
        read_manifest(tmp_path)
