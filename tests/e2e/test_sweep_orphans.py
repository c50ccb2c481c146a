"""The repair command for a process killed between the S3 and DynamoDB writes."""

import json
import subprocess
import sys

from tests.e2e.conftest import bucket_keys, post_user
from tests.fixtures.emulator import API_DIR


def run_sweep(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(API_DIR / "manage.py"), "sweep-orphans", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def sweep(env, *args: str, exit_code: int = 0) -> dict:
    result = run_sweep(env, *args)
    assert result.returncode == exit_code, result.stderr
    return json.loads(result.stdout)


def test_sweep_is_a_dry_run_by_default_and_deletes_only_orphans(api, aws_env, s3):
    created = post_user(api.base_url)
    assert created.status_code == 201
    s3.put_object(Bucket="users-api-avatars", Key="avatars/orphan.png", Body=b"x")
    s3.put_object(Bucket="users-api-avatars", Key="elsewhere/not-ours.png", Body=b"x")

    within_grace = sweep(aws_env)
    assert within_grace["mode"] == "dry-run" and within_grace["orphans"] == []

    # Exit code 3: orphans were found (the CronJob's alert tells "had to clean up" apart).
    dry = sweep(aws_env, "--grace-minutes", "0", exit_code=3)
    assert dry["orphans"] == ["avatars/orphan.png"] and dry["deleted"] == []
    assert "avatars/orphan.png" in bucket_keys(s3)

    applied = sweep(aws_env, "--grace-minutes", "0", "--apply", exit_code=3)
    assert applied["deleted"] == ["avatars/orphan.png"]
    keys = bucket_keys(s3)
    assert "avatars/orphan.png" not in keys and "elsewhere/not-ours.png" in keys
    assert created.json()["avatar_url"].endswith(
        [k for k in keys if k.startswith("avatars/")][0])

    again = sweep(aws_env, "--grace-minutes", "0", "--apply")
    assert again["orphans"] == [] and again["deleted"] == []


def test_sweep_fails_clearly_without_credentials(aws_env, tmp_path):
    env = {k: v for k, v in aws_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    result = run_sweep(env)
    assert result.returncode == 1
    assert "credentials" in result.stderr and "make -s run-env" in result.stderr
    assert "Traceback" not in result.stderr and "NoCredentialsError" not in result.stderr


def test_sweep_fails_on_a_missing_bucket(aws_env):
    result = run_sweep({**aws_env, "AVATARS_BUCKET": "no-such-bucket-4f1c"})
    assert result.returncode == 1
    assert "the avatars bucket does not exist" in result.stderr
