"""cfn-lint over synthesized templates: ``python -m users_api_infra.lint cdk.out/dev cdk.out/prod``.

The tests (tests/cdk/test_cfn_lint.py) and ``make cdk-lint`` use the same ignore list, below.
Every ignored rule carries its reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

CFN_LINT_IGNORES: dict[str, str] = {
    "W3005": (
        "Obsolete DependsOn: aws-cdk-lib adds explicit DependsOn next to Ref/GetAtt in its own "
        "constructs (custom-resource provider roles, EKS cluster -> subnets). Redundant but "
        "harmless, and not ours to remove without escape-hatch edits to CDK internals."
    ),
}

# Templates are environment-agnostic; lint them against the default deployment region.
CFN_LINT_REGIONS = ("us-east-1",)


def templates_in(*dirs: Path) -> list[Path]:
    return sorted(path for d in dirs for path in Path(d).glob("*.template.json"))


def lint(paths: list[Path]) -> list[str]:
    """cfn-lint findings (all severities) as printable lines; empty means clean."""
    from cfnlint.api import ManualArgs, lint_file

    config = ManualArgs(ignore_checks=list(CFN_LINT_IGNORES), regions=list(CFN_LINT_REGIONS))
    findings = []
    for path in paths:
        for match in lint_file(Path(path), config):
            findings.append(f"{path.name}:{match.linenumber}: {match.rule.id} {match.message}")
    return findings


def main(argv: list[str] | None = None) -> int:
    dirs = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])]
    paths = templates_in(*dirs)
    if not paths:
        print(f"no *.template.json under {', '.join(map(str, dirs))}; run `make synth` first",
              file=sys.stderr)
        return 2
    findings = lint(paths)
    for line in findings:
        print(line)
    print(f"cfn-lint: {len(paths)} templates, {len(findings)} findings "
          f"(ignored: {', '.join(CFN_LINT_IGNORES)})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
