"""Small helpers for reading synthesized CloudFormation templates in the CDK tests."""

from __future__ import annotations

from typing import Any

ENVS = ("dev", "prod")


def of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def one(template: dict, resource_type: str, prefix: str = "") -> tuple[str, dict]:
    found = {k: v for k, v in of_type(template, resource_type).items() if k.startswith(prefix)}
    assert len(found) == 1, f"expected one {resource_type} {prefix!r}, found {sorted(found)}"
    return next(iter(found.items()))


def props(resource: dict) -> dict:
    return resource.get("Properties", {})


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def statements(document: dict) -> list[dict]:
    return as_list(document["Statement"])


def token(part: Any) -> str:
    """A CloudFormation intrinsic inside a manifest, as a readable placeholder:
    {"Ref": "X"} -> "${X}", {"Fn::GetAtt": ["X", "Arn"]} -> "${X.Arn}"."""
    if isinstance(part, dict) and set(part) == {"Ref"}:
        return "${" + part["Ref"] + "}"
    if isinstance(part, dict) and set(part) == {"Fn::GetAtt"}:
        return "${" + ".".join(part["Fn::GetAtt"]) + "}"
    raise AssertionError(f"unexpected intrinsic in a manifest: {part!r}")


def manifests(template: dict) -> list[dict]:
    """Every Kubernetes object the kubectl handler applies (Custom::AWSCDK-EKS-KubernetesResource).

    A manifest that names a resource of the stack is an Fn::Join; its references come back as
    "${LogicalId}" / "${LogicalId.Attribute}" placeholders (see token())."""
    import json

    objects = []
    for resource in of_type(template, "Custom::AWSCDK-EKS-KubernetesResource").values():
        text = props(resource)["Manifest"]
        if isinstance(text, dict):
            separator, parts = text["Fn::Join"]
            text = separator.join(p if isinstance(p, str) else token(p) for p in parts)
        objects.extend(json.loads(text))
    return objects


def manifest(template: dict, kind: str, name: str) -> dict:
    found = [m for m in manifests(template) if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]
