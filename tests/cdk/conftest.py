"""CDK test fixtures local to tests/cdk. The synth itself is the session fixture ``cdk_synth`` /
``cdk_templates`` in tests/fixtures/cdk_synth.py (one synth per session, shared)."""

from __future__ import annotations

import pytest

# Every test here reads the (slow, once-per-session) synth.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def cdk_assertions(cdk_templates):
    """``{"dev"|"prod": {"data"|"registry"|"cluster": aws_cdk.assertions.Template}}``."""
    from aws_cdk.assertions import Template

    return {
        env: {role: Template.from_json(template) for role, template in stacks.items()}
        for env, stacks in cdk_templates.items()
    }
