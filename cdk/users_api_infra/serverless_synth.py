"""Offline synth of the serverless target alone, for its tests and ``make serverless-plan``:
``python -m users_api_infra.serverless_synth --env dev --outdir DIR [-c serverlessBundle=DIR] [--lint]``.

The same stacks as ``cdk synth -c serverless=true``, minus the registry and the cluster, which
the serverless stack does not use (it depends on the data stack and the avatar CDN only): the
EKS cluster's synth alone takes 12-17 s. Exit status as users_api_infra.synth's: 0, or 3 when
cdk-nag or CloudFormation validation fails (templates and validation-report.json still written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from users_api_infra.synth import cdk_json_context, finish

STACK_ROLES = ("data", "avatars-cdn", "serverless")


def synth(env_name: str, outdir: str, extra_context: dict[str, object] | None = None) -> str | None:
    import aws_cdk as cdk

    from users_api_infra.cdn_stack import AvatarCdnStack
    from users_api_infra.data_stack import DataStack
    from users_api_infra.nag import attach_checks
    from users_api_infra.serverless_stack import add_serverless_stack
    from users_api_infra.settings import settings_from_node

    context = {**cdk_json_context(), **(extra_context or {}), "env": env_name,
               "serverless": "true", "aws:cdk:disable-asset-staging": True}
    app = cdk.App(outdir=outdir, context=context)
    settings = settings_from_node(app.node)
    common = {"env": cdk.Environment(), "termination_protection": settings.termination_protection}
    data = DataStack(app, settings.stack_name("data"), settings=settings, **common)
    avatars_cdn = AvatarCdnStack(app, settings.stack_name("avatars-cdn"), settings=settings,
                                 avatars_bucket=data.avatars_bucket, **common)
    # Tagged as the app builder tags them, so these are the stacks `make deploy` deploys.
    for stack in (data, avatars_cdn):
        cdk.Tags.of(stack).add("project", "users-api")
        cdk.Tags.of(stack).add("environment", settings.name)
    add_serverless_stack(app, settings, data, avatars_cdn, **common)
    attach_checks(app)
    try:
        app.synth()
    except RuntimeError as error:
        return str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, choices=("dev", "prod"))
    parser.add_argument("--outdir", required=True)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--lint", action="store_true")
    args = parser.parse_args(argv)
    error = synth(args.env, args.outdir, dict(item.split("=", 1) for item in args.context))
    return finish(Path(args.outdir), error, lint=args.lint, suffix="-serverless.template.json")


if __name__ == "__main__":
    sys.exit(main())
