"""A small, read-only model of localstack/terraform/ for the static checks.

python-hcl2 parses the files; this module merges them and resolves the few interpolations the
configuration uses (var.*, local.*, and attributes of its own resources) into plain values, so
tests can compare them with the CDK template and the dev bootstrap. An interpolation it does not
understand raises instead of being guessed, so a new construct in the Terraform makes a test
fail loudly rather than pass by accident.

ARNs of the configuration's own resources become symbols: "<aws_s3_bucket.avatars.arn>",
"<aws_dynamodb_table.users.arn>". The parity tests map the CDK template's Fn::GetAtt to the same
symbols.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
LOCALSTACK_DIR = REPO / "localstack"
TF_DIR = LOCALSTACK_DIR / "terraform"
# tflocal writes this next to the configuration while it runs; it is never part of the source.
TFLOCAL_OVERRIDE = "localstack_providers_override.tf"

_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False)
_INTERPOLATION = re.compile(r"\$\{([^${}]*)\}")


def tf_files() -> list[Path]:
    return sorted(p for p in TF_DIR.glob("*.tf") if p.name != TFLOCAL_OVERRIDE)


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_OPTIONS)


def _labelled(blocks: list[dict], depth: int) -> dict[tuple[str, ...], Any]:
    """Flatten python-hcl2's nested {label: {label: body}} blocks into {(labels...): body}."""
    out: dict[tuple[str, ...], Any] = {}
    for block in blocks:
        stack: list[tuple[tuple[str, ...], Any]] = [((), block)]
        while stack:
            labels, node = stack.pop()
            if len(labels) == depth:
                if labels in out:
                    raise AssertionError(f"duplicate block {labels}")
                out[labels] = node
                continue
            for key, value in node.items():
                stack.append(((*labels, key), value))
    return out


@dataclass
class TerraformModel:
    terraform: list[dict] = field(default_factory=list)
    providers: dict[str, dict] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)

    # --- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, files: list[Path] | None = None) -> TerraformModel:
        model = cls()
        for path in files or tf_files():
            doc = parse_file(path)
            unknown = set(doc) - {
                "terraform", "provider", "variable", "locals", "resource", "data", "output",
            }
            if unknown:
                raise AssertionError(f"{path.name}: unexpected top-level blocks {sorted(unknown)}")
            model.terraform.extend(doc.get("terraform", []))
            for (name,), body in _labelled(doc.get("provider", []), 1).items():
                if name in model.providers:
                    raise AssertionError(f"provider {name!r} configured twice")
                model.providers[name] = body
            for (name,), body in _labelled(doc.get("variable", []), 1).items():
                model.variables[name] = body
            for block in doc.get("locals", []):
                for name, value in block.items():
                    if name in model.locals:
                        raise AssertionError(f"local {name!r} defined twice")
                    model.locals[name] = value
            model.resources.update(_labelled(doc.get("resource", []), 2))
            model.data.update(_labelled(doc.get("data", []), 2))
            for (name,), body in _labelled(doc.get("output", []), 1).items():
                model.outputs[name] = body
        return model

    # --- lookups -------------------------------------------------------------------------

    def resource(self, rtype: str, name: str | None = None) -> tuple[str, dict]:
        """The one resource of a type (or the named one); returns (name, body)."""
        found = [(n, b) for (t, n), b in self.resources.items() if t == rtype]
        if name is not None:
            found = [(n, b) for n, b in found if n == name]
        if len(found) != 1:
            raise AssertionError(f"expected exactly one {rtype} {name or ''}, found {len(found)}")
        return found[0]

    def resources_of(self, rtype: str) -> dict[str, dict]:
        return {n: b for (t, n), b in self.resources.items() if t == rtype}

    def for_bucket(self, rtype: str, bucket_resource: str) -> dict:
        """The bucket-scoped resource (versioning, policy...) attached to the given bucket."""
        wanted = f"${{aws_s3_bucket.{bucket_resource}.id}}"
        found = [b for b in self.resources_of(rtype).values() if b.get("bucket") == wanted]
        if len(found) != 1:
            raise AssertionError(f"expected one {rtype} on aws_s3_bucket.{bucket_resource}, "
                                 f"found {len(found)}")
        return found[0]

    def variable_default(self, name: str) -> Any:
        try:
            return self.variables[name]["default"]
        except KeyError:
            raise AssertionError(f"variable {name!r} has no default") from None

    def required_providers(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for block in self.terraform:
            for providers in block.get("required_providers", []):
                out.update(providers)
        return out

    def required_version(self) -> str:
        versions = [b["required_version"] for b in self.terraform if "required_version" in b]
        if len(versions) != 1:
            raise AssertionError(f"expected one required_version, found {versions}")
        return versions[0]

    # --- interpolation -------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Resolve interpolations in a parsed value (recursively through lists and dicts)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _INTERPOLATION.fullmatch(value)
        if whole:
            return self._reference(whole.group(1).strip())
        return _INTERPOLATION.sub(lambda m: str(self._reference(m.group(1).strip())), value)

    def _reference(self, expr: str) -> Any:
        parts = expr.split(".")
        if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", p) for p in parts):
            raise AssertionError(f"cannot statically resolve the expression ${{{expr}}}")
        if parts[0] == "var" and len(parts) == 2:
            return self.resolve(self.variable_default(parts[1]))
        if parts[0] == "local" and len(parts) == 2:
            return self.resolve(self.locals[parts[1]])
        if parts[0] == "data" and len(parts) == 4 and parts[1] == "aws_iam_policy_document":
            if parts[3] != "json":
                raise AssertionError(f"unsupported attribute ${{{expr}}}")
            return self.policy_document(parts[2])
        if len(parts) == 3 and (parts[0], parts[1]) in self.resources:
            rtype, name, attr = parts
            body = self.resources[(rtype, name)]
            if attr == "arn":
                return f"<{rtype}.{name}.arn>"
            # The identifying attribute of the resources this configuration uses: the name
            # it is created with.
            echo = {
                ("aws_s3_bucket", "id"): "bucket",
                ("aws_s3_bucket", "bucket"): "bucket",
                ("aws_dynamodb_table", "name"): "name",
                ("aws_dynamodb_table", "id"): "name",
                ("aws_iam_role", "name"): "name",
                ("aws_iam_role", "id"): "name",
            }.get((rtype, attr))
            if echo:
                return self.resolve(body[echo])
        raise AssertionError(f"cannot statically resolve the reference ${{{expr}}}")

    # --- IAM -----------------------------------------------------------------------------

    def policy_document(self, name: str) -> dict:
        """Render data.aws_iam_policy_document.<name> the way the provider does (IAM JSON)."""
        body = self.data[("aws_iam_policy_document", name)]
        statements = []
        for st in body.get("statement", []):
            allowed = {"sid", "effect", "actions", "resources", "principals", "condition"}
            extra = set(st) - allowed
            if extra:
                raise AssertionError(f"policy {name}: unsupported statement keys {sorted(extra)}")
            out: dict[str, Any] = {"Effect": st.get("effect", "Allow")}
            if "sid" in st:
                out["Sid"] = st["sid"]
            out["Action"] = self.resolve(st["actions"])
            if "resources" in st:
                out["Resource"] = self.resolve(st["resources"])
            principals: dict[str, list] = {}
            for pr in st.get("principals", []):
                principals.setdefault(pr["type"], []).extend(self.resolve(pr["identifiers"]))
            if principals:
                out["Principal"] = principals
            conditions: dict[str, dict] = {}
            for cond in st.get("condition", []):
                conditions.setdefault(cond["test"], {})[cond["variable"]] = self.resolve(
                    cond["values"])
            if conditions:
                out["Condition"] = conditions
            statements.append(out)
        return {"Version": "2012-10-17", "Statement": statements}


def as_set(value: Any) -> frozenset:
    """IAM allows a string or a list for Action, Resource and condition values."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(value)
    return frozenset([value])


def normalize_statement(statement: dict) -> dict:
    """An order-insensitive form of an IAM statement, for comparing two renderings."""
    out: dict[str, Any] = {"Effect": statement.get("Effect", "Allow")}
    for key in ("Action", "Resource", "NotAction", "NotResource"):
        if key in statement:
            out[key] = as_set(statement[key])
    if "Principal" in statement:
        principal = statement["Principal"]
        if principal == "*":
            principal = {"AWS": "*"}
        out["Principal"] = {k: as_set(v) for k, v in principal.items()}
    if "Condition" in statement:
        out["Condition"] = {
            test: {key: as_set(values) for key, values in body.items()}
            for test, body in statement["Condition"].items()
        }
    return out
