"""Environment selection and context overrides (no synth needed)."""

from __future__ import annotations

import pytest

from users_api_infra.settings import SettingsError, settings_for


def test_dev_and_prod_defaults():
    dev, prod = settings_for("dev"), settings_for("prod")
    assert (dev.az_count, dev.nat_gateways) == (2, 1)
    assert (prod.az_count, prod.nat_gateways) == (3, 3)
    assert prod.termination_protection and not dev.termination_protection
    assert dev.cluster_name == "users-api-dev"
    assert prod.stack_name("data") == "users-api-prod-data"
    # One ECR repository per environment: dev and prod never collide in one account.
    assert (dev.repository_name, prod.repository_name) == ("users-api-dev", "users-api-prod")


def test_retention_and_exposure_are_separate_settings():
    """What used to be one retain_data flag: each choice is its own field (issue: one flag for
    two things), with the same per-environment values as before."""
    from aws_cdk import RemovalPolicy

    dev, prod = settings_for("dev"), settings_for("prod")
    assert prod.removal_policy == RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    assert dev.removal_policy == RemovalPolicy.DESTROY
    assert (prod.table_deletion_protection, dev.table_deletion_protection) == (True, False)
    assert (prod.empty_on_delete, dev.empty_on_delete) == (False, True)
    assert (prod.public_api_endpoint, dev.public_api_endpoint) == (False, True)
    assert (prod.images_kept, dev.images_kept) == (100, 20)
    assert (prod.noncurrent_version_days, dev.noncurrent_version_days) == (7, 1)
    assert not hasattr(prod, "retain_data")


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
