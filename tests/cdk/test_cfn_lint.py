"""cfn-lint over every synthesized template (dev and prod), clean apart from documented ignores.

The lint itself runs inside the session's synth subprocesses (users_api_infra.synth --lint, one
per environment, in parallel); see tests/fixtures/cdk_synth.py.
"""

from __future__ import annotations

import pytest

from tests.cdk.cfn import ENVS
from users_api_infra.lint import CFN_LINT_IGNORES

pytestmark = pytest.mark.slow


def test_ignored_rules_carry_reasons():
    for rule, reason in CFN_LINT_IGNORES.items():
        assert len(reason) > 40, rule


@pytest.mark.parametrize("env", ENVS)
def test_cfn_lint_clean(cdk_synth, env):
    result = cdk_synth[env].cfn_lint
    assert result is not None, "the synth subprocess did not run cfn-lint"
    assert sorted(result["templates"]) == sorted(
        f"{stack}.template.json" for stack in cdk_synth[env].stack_names.values()
    )
    assert result["findings"] == []
