"""Offline synth without the cdk CLI: ``python -m users_api_infra.synth --env dev --outdir DIR``.

This is the Python equivalent of ``cdk synth --no-lookups``: it loads the feature flags from
cdk/cdk.json, builds the app for one environment and writes the cloud assembly. No AWS
credentials and no network are needed (the stacks make no context lookups, and
CDK_DEFAULT_ACCOUNT/REGION are ignored unless ``--use-default-env`` is given).

Exit status: 0 when synth and every validation (cdk-nag AwsSolutions, the built-in
CloudFormation validation) pass; 3 when validation fails -- the templates and
``validation-report.json`` are still written to DIR, which is what the tests read; anything
else (1) is an error in the app itself. ``--lint`` also runs cfn-lint (users_api_infra.lint)
over the written templates and records the findings in DIR/cfn-lint.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

VALIDATION_FAILED = 3
LINT_RESULT = "cfn-lint.json"
CDK_DIR = Path(__file__).resolve().parent.parent
CDK_JSON = CDK_DIR / "cdk.json"


def cdk_json_context() -> dict[str, object]:
    return dict(json.loads(CDK_JSON.read_text())["context"])


def synth(
    env_name: str,
    outdir: str | os.PathLike[str],
    *,
    asset_staging: bool = True,
    extra_context: dict[str, object] | None = None,
    use_default_env: bool = False,
) -> str | None:
    """Synthesize one environment into ``outdir``. Returns the validation error text, or None."""
    import aws_cdk as cdk

    from users_api_infra.app_builder import build

    context: dict[str, object] = {**cdk_json_context(), **(extra_context or {}), "env": env_name}
    if not asset_staging:
        context["aws:cdk:disable-asset-staging"] = True
    app = cdk.App(outdir=str(outdir), context=context)
    build(app, None if use_default_env else cdk.Environment())
    try:
        app.synth()
    except RuntimeError as error:  # ValidationFailed: the report is in outdir
        return str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, choices=("dev", "prod"))
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--no-asset-staging", action="store_true")
    parser.add_argument("--use-default-env", action="store_true",
                        help="honour CDK_DEFAULT_ACCOUNT/REGION (default: environment-agnostic)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--lint", action="store_true",
                        help=f"also cfn-lint the templates; findings go to DIR/{LINT_RESULT}")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.context)
    error = synth(
        args.env,
        args.outdir,
        asset_staging=not args.no_asset_staging,
        extra_context=extra,
        use_default_env=args.use_default_env,
    )
    return finish(Path(args.outdir), error, lint=args.lint)


def finish(outdir: Path, error: str | None, *, lint: bool, suffix: str = ".template.json") -> int:
    """The end of a synth subprocess: optionally cfn-lint its templates (those ending in suffix)
    into outdir/LINT_RESULT, report a validation error, and give the exit code."""
    if lint:
        from users_api_infra.lint import lint as run_lint
        from users_api_infra.lint import templates_in

        paths = [p for p in templates_in(outdir) if p.name.endswith(suffix)]
        result = {"templates": [p.name for p in paths], "findings": run_lint(paths)}
        (outdir / LINT_RESULT).write_text(json.dumps(result, indent=2))
    if error:
        print(error, file=sys.stderr)
        return VALIDATION_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
