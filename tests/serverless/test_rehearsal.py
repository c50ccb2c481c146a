"""The rehearsal: the synthesized data and serverless templates deployed on the emulator's
CloudFormation (moto server), as far as it goes.

Where it stops, by the emulator's limits: it does not resolve ``Fn::GetStackOutput`` (how the
serverless stack reads the data and CDN stacks' outputs), so the test resolves those references
itself from the data stack's real outputs, as CloudFormation would (the CDN stack cannot be
deployed there: moto skips CloudFront, so its domain is a placeholder). It skips API Gateway's
Stage, GatewayResponse and Account resources and the REST API's binary media types (those are
checked on the template: test_serverless_stack.py), and it cannot invoke the function without
Docker (the handler is driven in-process instead: test_lambda_events.py and tests/e2e).
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import boto3
import pytest

from users_api_infra import serverless_api as gateway

pytestmark = pytest.mark.slow
ACCOUNT_ASSETS = "cdk-hnb659fds-assets-123456789012-us-east-1"
CDN_DOMAIN = "d111111abcdef8.cloudfront.net"  # placeholder: moto skips AWS::CloudFront::*


def client(name: str, endpoint: str):
    return boto3.client(name, region_name="us-east-1", endpoint_url=endpoint,
                        aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106


def wait_for(predicate, what: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"the emulator never got to: {what}")


def resolve_stack_outputs(node, outputs: dict[str, str]):
    """Fn::GetStackOutput replaced by the output's value, as CloudFormation does at deploy."""
    if isinstance(node, dict):
        if "Fn::GetStackOutput" in node:
            reference = node["Fn::GetStackOutput"]
            if reference["StackName"].endswith("-avatars-cdn"):
                return CDN_DOMAIN
            return outputs[reference["OutputName"]]
        return {key: resolve_stack_outputs(value, outputs) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_stack_outputs(value, outputs) for value in node]
    return node


@pytest.fixture
def emulator(clean_backend):
    """The session's emulator, emptied before and after (the stacks leave their resources)."""
    from devtools import emulator as devtools_emulator

    yield clean_backend
    devtools_emulator.reset(clean_backend)


def test_the_serverless_stack_deploys_on_the_emulator(serverless_synth, emulator):
    moto_endpoint = emulator
    templates = serverless_synth["dev"].templates
    cloudformation = client("cloudformation", moto_endpoint)
    s3 = client("s3", moto_endpoint)
    # What `cdk bootstrap` and `cdk deploy` provide: the bootstrap version and the code asset.
    client("ssm", moto_endpoint).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True)
    s3.create_bucket(Bucket=ACCOUNT_ASSETS)
    [function_id] = [k for k, r in templates["serverless"]["Resources"].items()
                     if r["Type"] == "AWS::Lambda::Function"]
    code = templates["serverless"]["Resources"][function_id]["Properties"]["Code"]
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in serverless_synth["dev"].bundle.rglob("*"):
            if path.is_file():
                archive.write(path, path.relative_to(serverless_synth["dev"].bundle))
    s3.put_object(Bucket=ACCOUNT_ASSETS, Key=code["S3Key"], Body=bundle.getvalue())

    cloudformation.create_stack(StackName="users-api-dev-data", Capabilities=["CAPABILITY_IAM"],
                                TemplateBody=json.dumps(templates["data"]))
    needed = set(templates["data"]["Outputs"])

    def data_outputs():
        stack = cloudformation.describe_stacks(StackName="users-api-dev-data")["Stacks"][0]
        found = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return found if needed <= set(found) else None

    outputs = wait_for(data_outputs, "the data stack's outputs")
    cloudformation.create_stack(
        StackName="users-api-dev-serverless", Capabilities=["CAPABILITY_IAM"],
        TemplateBody=json.dumps(resolve_stack_outputs(templates["serverless"], outputs)))

    def created():
        stack = cloudformation.describe_stacks(StackName="users-api-dev-serverless")["Stacks"][0]
        return None if stack["StackStatus"].endswith("IN_PROGRESS") else stack

    stack = wait_for(created, "the serverless stack created")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    # The function: the app object, its table, bucket and CDN, its role.
    function = client("lambda", moto_endpoint).get_function(FunctionName="users-api-dev")
    configuration = function["Configuration"]
    assert configuration["Handler"] == "app.app" and configuration["Runtime"] == "python3.12"
    variables = configuration["Environment"]["Variables"]
    assert variables["USERS_TABLE"] == outputs["UsersTableName"]
    assert variables["AVATARS_BUCKET"] == outputs["AvatarsBucketName"]
    assert variables["AVATAR_BASE_URL"] == f"https://{CDN_DOMAIN}"
    iam = client("iam", moto_endpoint)
    role_name = configuration["Role"].rsplit("/", 1)[1]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    policies = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    documents = [iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
                 for name in policies]
    actions = {a for d in documents for s in d["Statement"]
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"dynamodb:PutItem", "dynamodb:Scan", "s3:PutObject", "s3:ListBucket",
            "logs:PutLogEvents"} <= actions
    assert "s3:DeleteObjectVersion" not in actions  # as the pod role: delete markers only

    # The REST API: one resource per routed app route, each ANY method a proxy to the function.
    apigateway = client("apigateway", moto_endpoint)
    [api] = [a for a in apigateway.get_rest_apis()["items"] if a["name"] == "users-api-dev"]
    resources = apigateway.get_resources(restApiId=api["id"])["items"]
    manifest = json.loads((serverless_synth["dev"].bundle / gateway.MANIFEST).read_text())
    routed = {p for p in manifest["routes"] if gateway.access_of(p) != gateway.NOT_ROUTED}
    with_methods = {r["path"]: r for r in resources if r.get("resourceMethods")}
    assert set(with_methods) == routed
    for path, resource in with_methods.items():
        method = apigateway.get_method(restApiId=api["id"], resourceId=resource["id"],
                                       httpMethod="ANY")
        expected = "AWS_IAM" if gateway.access_of(path) == gateway.SIGNED else "NONE"
        assert method["authorizationType"] == expected, path
        assert method["methodIntegration"]["type"] == "AWS_PROXY"
        assert "function:users-api-dev/invocations" in method["methodIntegration"]["uri"]
