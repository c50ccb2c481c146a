"""Environment selection and context overrides (no synth needed)."""

from __future__ import annotations

import pytest

from users_api_infra.settings import SettingsError, settings_for


def test_dev_and_prod_defaults():
    dev, prod = settings_for("dev"), settings_for("prod")
    assert (dev.az_count, dev.nat_gateways, dev.retain_data) == (2, 1, False)
    assert (prod.az_count, prod.nat_gateways, prod.retain_data) == (3, 3, True)
    assert prod.termination_protection and not dev.termination_protection
    assert dev.cluster_name == "users-api-dev"
    assert prod.stack_name("data") == "users-api-prod-data"
    assert dev.repository_name == prod.repository_name == "users-api"


def test_unknown_environment_is_rejected():
    with pytest.raises(SettingsError, match="unknown environment"):
        settings_for("staging")


def test_context_overrides():
    s = settings_for(
        "prod",
        {
            "apiAllowedCidrs": "203.0.113.0/24, 198.51.100.7/32",
            "adminPrincipalArn": "arn:aws:iam::123456789012:role/Admin",
            "availabilityZones": "eu-west-1a,eu-west-1b,eu-west-1c",
            "repositoryName": "users-api-prod",
        },
    )
    assert s.api_allowed_cidrs == ("203.0.113.0/24", "198.51.100.7/32")
    assert s.admin_principal_arn.endswith(":role/Admin")
    assert s.availability_zones == ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    assert s.repository_name == "users-api-prod"


def test_bad_overrides():
    with pytest.raises(SettingsError, match="not a CIDR"):
        settings_for("dev", {"apiAllowedCidrs": "203.0.113.7"})
    with pytest.raises(SettingsError, match="exactly 3"):
        settings_for("prod", {"availabilityZones": "eu-west-1a,eu-west-1b"})


def test_public_endpoint_is_acknowledged_exactly_when_it_exists():
    """AwsSolutions-EKS1 fires whenever the public endpoint is on; the session synth covers the
    dev (open) and prod (private) defaults, this covers the allow-list variant without a synth."""
    from users_api_infra.cluster_stack import endpoint_acknowledgement

    assert endpoint_acknowledgement(settings_for("prod")) is None  # private-only
    assert "dev only" in endpoint_acknowledgement(settings_for("dev"))
    restricted = endpoint_acknowledgement(settings_for("prod", {"apiAllowedCidrs": "203.0.113.0/24"}))
    assert "203.0.113.0/24" in restricted
