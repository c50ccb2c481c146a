"""The API served from what was deployed: configuration from the stack outputs, the app role's
credentials (sts:AssumeRole on the emulator), the real serving command."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.images import image_bytes

pytestmark = pytest.mark.slow


def test_the_server_runs_as_the_app_role_not_as_admin(rehearsal, smoke):
    arn = rehearsal.deployment.client("sts", _session(rehearsal, smoke.app_credentials)
                                      ).get_caller_identity()["Arn"]
    role_name = rehearsal.outputs["AppRoleArn"].rsplit("/", 1)[1]
    assert arn.endswith(f"assumed-role/{role_name}/rehearsal-app")


def _session(rehearsal, creds):
    from tests.rehearsal.harness import session_for

    return session_for(rehearsal.deployment, creds)


def test_create_list_duplicate_readyz(rehearsal, smoke):
    created = smoke.responses["create"]
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "rehearsal@example.org"
    assert user["avatar_url"].startswith(smoke.avatar_base_url + "/avatars/")
    assert smoke.responses["duplicate"].status_code == 409, smoke.responses["duplicate"].text
    assert smoke.responses["list"].status_code == 200
    assert user in smoke.responses["list"].json()
    assert smoke.responses["readyz"].status_code == 200, smoke.responses["readyz"].text
    # the item and the object are where the outputs say
    assert user["email"] in smoke.table_emails
    assert smoke.stored_avatar["key"].startswith("avatars/")
    assert smoke.stored_avatar["content_type"] == "image/png"
    assert smoke.stored_avatar["body"][:8] == b"\x89PNG\r\n\x1a\n"


def test_the_avatar_url_serves_the_bytes(rehearsal, smoke):
    """Through the local avatar server, which plays the distribution (AvatarBaseUrl) here."""
    response = smoke.responses["avatar"]
    assert response.status_code == 200
    assert response.content == image_bytes()
    # The CDN stack's response-headers policy (SKIPPED on the emulator) sets this header.
    headers = next(r for r in rehearsal.template("avatars-cdn")["Resources"].values()
                   if r["Type"] == "AWS::CloudFront::ResponseHeadersPolicy")
    [cache] = headers["Properties"]["ResponseHeadersPolicyConfig"]["CustomHeadersConfig"]["Items"]
    assert response.headers["Cache-Control"] == cache["Value"]


def test_the_sweep_dry_run_reports_the_orphan_and_deletes_nothing(smoke):
    from manage import EXIT_ORPHANS_FOUND

    assert smoke.sweep.returncode == EXIT_ORPHANS_FOUND, smoke.sweep.stderr  # found, not failed
    report = json.loads(smoke.sweep.stdout)
    assert report["mode"] == "dry-run"
    assert smoke.orphan_key in report["orphans"]
    assert not report["deleted"]
    assert smoke.orphan_kept
