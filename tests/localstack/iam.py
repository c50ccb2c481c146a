"""Comparing IAM policies written three ways (Terraform, CloudFormation from CDK, a boto3 dict).

A policy is reduced to its atomic permissions: one (effect, action, resource, conditions,
principals) tuple per action x resource of every statement. Two policies that grant the same
thing compare equal however their statements are grouped or ordered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Permission = tuple[str, str, str, frozenset, frozenset]


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _principals(principal: Any, resolve: Callable[[Any], Any]) -> frozenset:
    if principal is None:
        return frozenset()
    if principal == "*":
        principal = {"AWS": "*"}
    return frozenset(
        (kind, resolve(value)) for kind, values in principal.items() for value in _as_list(values)
    )


def _conditions(condition: dict | None, resolve: Callable[[Any], Any]) -> frozenset:
    if not condition:
        return frozenset()
    return frozenset(
        (test, key, frozenset(resolve(v) for v in _as_list(values)))
        for test, body in condition.items()
        for key, values in body.items()
    )


def permissions(statements: Iterable[dict],
                resolve: Callable[[Any], Any] = lambda v: v) -> frozenset[Permission]:
    out: set[Permission] = set()
    for statement in statements:
        for forbidden in ("NotAction", "NotResource", "NotPrincipal"):
            assert forbidden not in statement, f"{forbidden} is not used by this project"
        effect = statement.get("Effect", "Allow")
        conditions = _conditions(statement.get("Condition"), resolve)
        principals = _principals(statement.get("Principal"), resolve)
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement.get("Resource", "*")):
                out.add((effect, action, resolve(resource), conditions, principals))
    return frozenset(out)


def describe(perms: Iterable[Permission]) -> list[str]:
    """Readable lines for assertion messages."""
    lines = []
    for effect, action, resource, conditions, principals in sorted(perms, key=repr):
        extra = ""
        if conditions:
            extra += " if " + ", ".join(f"{t} {k} {sorted(v)}" for t, k, v in sorted(conditions))
        if principals:
            extra += " for " + ", ".join(f"{k}:{v}" for k, v in sorted(principals))
        lines.append(f"{effect} {action} on {resource}{extra}")
    return lines
