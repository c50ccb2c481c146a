"""What the person deploying chooses, read once from the environment.

  CDK_ENV              dev (default) or prod
  IMAGE_TAG            image tag (default: the git commit, plus -dirty-<UTC time> for a dirty tree)
  CONTAINER_ENGINE     docker or podman (default: docker if its daemon answers, else podman)
  ADMIN_PRINCIPAL_ARN  IAM role/user that gets cluster-admin (default: derived from your identity)
  API_ALLOWED_CIDRS    CIDRs allowed to reach the public Kubernetes API endpoint
  CERTIFICATE_ARN      ACM certificate for the load balancer (HTTPS); required in prod
  API_HOSTNAME         public host name the certificate covers; required with CERTIFICATE_ARN
  REPOSITORY_NAME      ECR repository name override
  NON_INTERACTIVE      1: no prompts (CI): cdk deploy --require-approval never

The region is not read here: ``preflight.chosen_region`` resolves it (AWS_REGION,
AWS_DEFAULT_REGION, or the profile's region) and refuses to guess.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "prod")

# CDK context keys the flow forwards to every cdk command, from these inputs.
CONTEXT_KEYS = {
    "adminPrincipalArn": "admin_principal_arn",
    "apiAllowedCidrs": "api_allowed_cidrs",
    "certificateArn": "certificate_arn",
    "repositoryName": "repository_name",
}


class InputError(ValueError):
    """An input that cannot work; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class DeployInputs:
    env_name: str = "dev"
    image_tag: str = ""
    container_engine: str | None = None
    admin_principal_arn: str | None = None
    api_allowed_cidrs: str | None = None
    certificate_arn: str | None = None
    api_hostname: str | None = None
    repository_name: str | None = None
    non_interactive: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, env_name: str | None = None,
                     image_tag: str | None = None) -> DeployInputs:
        def get(name: str) -> str | None:
            return (environ.get(name) or "").strip() or None

        name = env_name or get("CDK_ENV") or "dev"
        if name not in ENVIRONMENTS:
            raise InputError(f"CDK_ENV={name!r} is not an environment: use CDK_ENV=dev or CDK_ENV=prod.")
        engine = get("CONTAINER_ENGINE")
        if engine not in (None, "docker", "podman"):
            raise InputError(f"CONTAINER_ENGINE={engine!r} is not supported: use docker or podman.")
        flag = (get("NON_INTERACTIVE") or "").lower()
        if flag not in ("", "0", "1", "true", "false", "yes", "no"):
            raise InputError(f"NON_INTERACTIVE={flag!r} is not a yes/no value: use NON_INTERACTIVE=1.")
        return cls(
            env_name=name,
            image_tag=image_tag or get("IMAGE_TAG") or "",
            container_engine=engine,
            admin_principal_arn=get("ADMIN_PRINCIPAL_ARN"),
            api_allowed_cidrs=get("API_ALLOWED_CIDRS"),
            certificate_arn=get("CERTIFICATE_ARN"),
            api_hostname=get("API_HOSTNAME"),
            repository_name=get("REPOSITORY_NAME"),
            non_interactive=flag in ("1", "true", "yes"),
        )

    def with_image_tag(self) -> DeployInputs:
        """These inputs with IMAGE_TAG filled in from git when it was not given."""
        return self if self.image_tag else replace(self, image_tag=default_image_tag())

    def cdk_context_args(self) -> list[str]:
        args = ["-c", f"env={self.env_name}"]
        for key, attr in CONTEXT_KEYS.items():
            value = getattr(self, attr)
            if value:
                args += ["-c", f"{key}={value}"]
        return args


def default_image_tag() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed git argv
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True  # noqa: S607
        ).stdout.strip()

    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return f"build-{stamp}"
    try:
        dirty = bool(git("status", "--porcelain"))
    except (OSError, subprocess.CalledProcessError):
        dirty = True
    # Tags are immutable in ECR: a dirty tree gets a unique tag instead of reusing the commit's.
    return f"{commit}-dirty-{stamp}" if dirty else commit
