"""The repair command for a process killed between the S3 and DynamoDB writes."""

import json
import subprocess
import sys

from tests.e2e.conftest import bucket_keys, post_user
from tests.fixtures.emulator import API_DIR


def sweep(env, *args: str) -> dict:
    result = subprocess.run([sys.executable, str(API_DIR / "manage.py"), "sweep-orphans", *args],
                            env=env, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(result.stdout)


def test_sweep_is_a_dry_run_by_default_and_deletes_only_orphans(api, aws_env, s3):
    created = post_user(api.base_url)
    assert created.status_code == 201
    s3.put_object(Bucket="users-api-avatars", Key="avatars/orphan.png", Body=b"x")
    s3.put_object(Bucket="users-api-avatars", Key="elsewhere/not-ours.png", Body=b"x")

    within_grace = sweep(aws_env)
    assert within_grace["mode"] == "dry-run" and within_grace["orphans"] == []

    dry = sweep(aws_env, "--grace-minutes", "0")
    assert dry["orphans"] == ["avatars/orphan.png"] and dry["deleted"] == []
    assert "avatars/orphan.png" in bucket_keys(s3)

    applied = sweep(aws_env, "--grace-minutes", "0", "--apply")
    assert applied["deleted"] == ["avatars/orphan.png"]
    keys = bucket_keys(s3)
    assert "avatars/orphan.png" not in keys and "elsewhere/not-ours.png" in keys
    assert created.json()["avatar_url"].endswith(
        [k for k in keys if k.startswith("avatars/")][0])
