"""Read values.yaml the way a reader does: which value is documented by which `# --` comment.

A `# --` comment (with any `#` continuation lines) documents the key right below it and that key's
whole subtree. Keys without one are pure groups: each of their leaves needs its own comment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-/]+):(?P<rest>.*)$")
LIST_LINE = re.compile(r"^(?P<indent> *)- ")


@dataclass
class Node:
    path: str
    indent: int
    doc: str  # its own `# --` comment, "" if none
    documented: bool  # by itself or an ancestor
    has_child_keys: bool = False


def parse(text: str) -> dict[str, Node]:
    """Map dotted key path -> Node for every mapping key (list contents are part of the value)."""
    nodes: dict[str, Node] = {}
    stack: list[Node] = []
    pending: list[str] | None = None
    list_indent: int | None = None  # inside a list value: skip until dedent
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            pending = None
            continue
        indent = len(line) - len(line.lstrip(" "))
        if list_indent is not None:
            if indent > list_indent or (indent == list_indent and LIST_LINE.match(line)):
                continue
            list_indent = None
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            if body.startswith("--"):
                pending = [body[2:].strip()]
            elif pending is not None:
                pending.append(body)
            continue
        if LIST_LINE.match(line):
            list_indent = indent
            pending = None
            continue
        match = KEY_LINE.match(line)
        if not match:
            pending = None
            continue
        while stack and stack[-1].indent >= indent:
            stack.pop()
        if stack:
            stack[-1].has_child_keys = True
        parent_documented = any(n.documented for n in stack)
        doc = " ".join(pending) if pending else ""
        path = ".".join([n.path.split(".")[-1] for n in stack] + [match["key"]])
        node = Node(path, indent, doc, bool(doc) or parent_documented)
        nodes[path] = node
        stack.append(node)
        pending = None
    return nodes


def leaves(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted path -> default, recursing into chart-defined mappings.

    Lists, {} and free-form Kubernetes maps (annotations, labels: keys with "." or "/") are one
    value each.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        free_form = isinstance(value, dict) and any("." in k or "/" in k for k in value)
        if isinstance(value, dict) and value and not free_form:
            out |= leaves(value, path + ".")
        else:
            out[path] = value
    return out


def default_repr(value: Any) -> str:
    return json.dumps(value)


def load(path: Path) -> tuple[dict[str, Any], dict[str, Node]]:
    text = path.read_text()
    return yaml.safe_load(text), parse(text)


def meaning(path: str, nodes: dict[str, Node]) -> str:
    """The `# --` comment that documents path: its own or its nearest documented ancestor's."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        node = nodes.get(".".join(parts[:i]))
        if node and node.doc:
            return node.doc
    return ""


MARKER = "<!-- values-table:"


def values_table(values_path: Path) -> str:
    values, nodes = load(values_path)
    rows = ["| Key | Default | Meaning |", "|---|---|---|"]
    for path, default in leaves(values).items():
        text = meaning(path, nodes).replace("|", "\\|")
        rows.append(f"| `{path}` | `{default_repr(default)}` | {text} |")
    return "\n".join(rows) + "\n"


def write_readme_table(chart_dir: Path) -> None:
    """Replace everything after the README's values-table marker line with a fresh table."""
    readme = chart_dir / "README.md"
    text = readme.read_text()
    head, marker, tail = text.partition(MARKER)
    marker_line = marker + tail.split("\n", 1)[0]
    readme.write_text(f"{head}{marker_line}\n\n{values_table(chart_dir / 'values.yaml')}")


if __name__ == "__main__":
    import sys

    write_readme_table(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("charts/users-api"))
