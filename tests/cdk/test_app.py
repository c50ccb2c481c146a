"""The app as a whole: its stacks, their deploy order, and no region baked into any template."""

from __future__ import annotations

import json
import re

import pytest

from tests.cdk.cfn import ENVS
from tests.fixtures import cdk_synth as fixture

pytestmark = pytest.mark.slow

# Any AWS region name (us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-4, ...).
REGION = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn)(?:-gov|-iso[a-z]?)?-[a-z]+-\d\b")


def test_the_fixture_synthesizes_every_stack_of_the_app():
    from users_api_infra.app_builder import STACK_ROLES

    assert fixture.STACK_ROLES == STACK_ROLES == ("data", "registry", "avatars-cdn", "cluster")


@pytest.mark.parametrize("env", ENVS)
def test_stack_names_and_deploy_order(cdk_synth, env):
    manifest = json.loads((cdk_synth[env].outdir / "manifest.json").read_text())
    names = {role: f"users-api-{env}-{role}" for role in fixture.STACK_ROLES}
    assert cdk_synth[env].stack_names == names
    stacks = {name: artifact for name, artifact in manifest["artifacts"].items()
              if artifact["type"] == "aws:cloudformation:stack"}
    assert set(stacks) == set(names.values())

    def depends_on(role: str) -> set[str]:
        deps = stacks[names[role]].get("dependencies", [])
        return {role_of for role_of, name in names.items() if name in deps}

    # The data stack depends on nothing (it deploys alone on the emulator); the CDN stack reads
    # the bucket from it; the cluster binds the data stack's roles.
    assert depends_on("data") == set()
    assert depends_on("registry") == set()
    assert depends_on("avatars-cdn") == {"data"}
    assert depends_on("cluster") == {"data"}


@pytest.mark.parametrize("env", ENVS)
def test_no_template_bakes_in_a_region(cdk_templates, env):
    """Environment-agnostic synth: regions come from AWS::Region (Aws.REGION) at deploy time, in
    ARNs, cross-stack references and outputs alike, so a template deploys to any region."""
    for role, template in cdk_templates[env].items():
        text = json.dumps(template)
        assert not REGION.findall(text), f"{role}: literal region {sorted(set(REGION.findall(text)))}"


def test_the_region_pattern_finds_regions():
    assert REGION.findall('{"a": "arn:aws:eks:us-east-1:1:cluster/x", "b": "eu-central-2"}') == [
        "us-east-1", "eu-central-2"]
    assert REGION.findall("us-gov-west-1 cn-north-1") == ["us-gov-west-1", "cn-north-1"]
    assert not REGION.findall("users-api-dev-data")
