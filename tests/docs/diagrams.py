"""The Mermaid diagrams in the READMEs: find them, check what they name, render them offline.

A diagram is a ```mermaid block in a README. Every node (and subgraph) id in it must be backed
by a check line inside the same block, a Mermaid comment that GitHub does not show:

    %% check <id> = <file or glob> : <text the file must contain>

so a picture cannot keep naming a component the code or the templates no longer have. A
`%% view: <name>` line names the view (request path, deploy path, local loop).

Rendering uses the pinned mermaid-cli in tests/docs/node_modules (`make diagrams-install`,
which skips puppeteer's own browser download) and the system Chromium.

  python tests/docs/diagrams.py [--out DIR]   render every diagram to DIR/*.svg (make diagrams)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS_TOOLS = Path(__file__).resolve().parent
MMDC = DOCS_TOOLS / "node_modules" / ".bin" / "mmdc"
SKIP_DIRS = {"node_modules", "cdk.out", ".venv", ".git", ".cache", ".pytest_cache", ".bench"}
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RENDER_TIMEOUT_SECONDS = 120

CHECK_LINE = re.compile(
    r"^%%\s*check\s+(?P<id>[A-Za-z_]\w*)\s*=\s*(?P<path>\S+)(?:\s*:\s*(?P<text>.+?))?\s*$")
VIEW_LINE = re.compile(r"^%%\s*view:\s*(?P<name>.+?)\s*$")
# Words of the flowchart language that are not node ids.
KEYWORDS = {"flowchart", "graph", "subgraph", "end", "direction", "LR", "RL", "TB", "TD", "BT"}
# Lines that declare no node: comments, styling, interaction.
NON_NODE_LINES = ("%%", "classDef ", "class ", "style ", "linkStyle ", "click ")


@dataclass
class Check:
    node: str
    path: str
    text: str | None
    line: int


@dataclass
class Diagram:
    readme: Path
    line: int  # of the ```mermaid fence, 1-based
    source: str
    checks: list[Check] = field(default_factory=list)
    view: str | None = None

    @property
    def where(self) -> str:
        return f"{self.readme.relative_to(REPO)}:{self.line}"

    def node_ids(self) -> set[str]:
        """Every node and subgraph id: what is left of each line once labels are removed."""
        ids: set[str] = set()
        for raw in self.source.splitlines()[1:]:  # the first line is the diagram type
            line = raw.strip()
            if not line or line.startswith(NON_NODE_LINES):
                continue
            line = re.sub(r'"[^"]*"', "", line)              # quoted labels
            line = re.sub(r"\|[^|]*\|", "", line)             # edge labels -->|text|
            line = re.sub(r":::\w+", "", line)                # class shorthand
            line = re.sub(r"\[[^\]]*\]|\([^)]*\)|\{[^}]*\}", "", line)  # shapes: [ ] ( ) { }
            ids |= {word for word in re.findall(r"[A-Za-z_]\w*", line) if word not in KEYWORDS}
        return ids


def readmes() -> list[Path]:
    found = []
    for path in sorted(REPO.rglob("*.md")):
        if not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            found.append(path)
    return found


def parse(readme: Path, fence_line: int, body: list[str]) -> Diagram:
    """One ```mermaid block (its lines without the fences) that starts at `fence_line`."""
    diagram = Diagram(readme, fence_line, "\n".join(body) + "\n")
    for offset, text in enumerate(body):
        if match := CHECK_LINE.match(text.strip()):
            diagram.checks.append(Check(match["id"], match["path"], match["text"], fence_line + 1 + offset))
        elif match := VIEW_LINE.match(text.strip()):
            diagram.view = match["name"]
    return diagram


def diagrams() -> list[Diagram]:
    found: list[Diagram] = []
    for readme in readmes():
        lines = readme.read_text().splitlines()
        index = 0
        while index < len(lines):
            if lines[index].strip() == "```mermaid":
                start = index
                index += 1
                body: list[str] = []
                while index < len(lines) and lines[index].strip() != "```":
                    body.append(lines[index])
                    index += 1
                found.append(parse(readme, start + 1, body))
            index += 1
    return found


def check_problems(diagram: Diagram) -> list[str]:
    """What a diagram names that has no check, checks that name no node, and failed checks."""
    where = diagram.where
    ids, checked = diagram.node_ids(), {check.node for check in diagram.checks}
    problems = [f"{where}: node {node!r} has no `%% check {node} = <file> : <text>` line"
                for node in sorted(ids - checked)]
    problems += [f"{where}: `%% check {node}` names no node of the diagram"
                 for node in sorted(checked - ids)]
    for check in diagram.checks:
        files = sorted(path for path in REPO.glob(check.path) if path.is_file())
        place = f"{diagram.readme.relative_to(REPO)}:{check.line}"
        if not files:
            problems.append(f"{place}: {check.node!r}: no file matches {check.path}")
        elif check.text and not any(check.text in path.read_text(errors="replace") for path in files):
            problems.append(f"{place}: {check.node!r}: {check.path} does not contain {check.text!r}")
    return problems


def chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    return None


def renderer_missing() -> str | None:
    """Why diagrams cannot be rendered here, or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed (the Mermaid renderer is an npm package)"
    if not MMDC.exists():
        return "the Mermaid renderer is not installed: run `make diagrams-install`"
    if chromium() is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def render(diagram: Diagram, svg: Path) -> subprocess.CompletedProcess:
    """Render one diagram with mmdc and the system Chromium; mmdc exits non-zero on a syntax error."""
    with tempfile.TemporaryDirectory(prefix="users-api-diagram-") as tmp:
        source, config = Path(tmp) / "diagram.mmd", Path(tmp) / "puppeteer.json"
        source.write_text(diagram.source)
        config.write_text(json.dumps({"executablePath": chromium(), "args": CHROMIUM_ARGS}))
        env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
        return subprocess.run(  # noqa: S603 - the pinned local mmdc
            [str(MMDC), "--quiet", "-p", str(config), "-i", str(source), "-o", str(svg)],
            capture_output=True, text=True, timeout=RENDER_TIMEOUT_SECONDS, env=env, check=False)


def svg_name(diagram: Diagram) -> str:
    folder = diagram.readme.relative_to(REPO).parent
    return f"{'-'.join(folder.parts) or 'README'}-{diagram.line}.svg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "diagrams")
    args = parser.parse_args(argv)
    if reason := renderer_missing():
        print(f"cannot render: {reason}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for diagram in diagrams():
        problems = check_problems(diagram)
        svg = args.out / svg_name(diagram)
        result = render(diagram, svg)
        if result.returncode != 0:
            problems.append(f"{diagram.where}: mmdc exited {result.returncode}: "
                            f"{result.stderr.strip()[:2000]}")
        for problem in problems:
            print(problem, file=sys.stderr)
        failed += bool(problems)
        print(f"{'FAILED' if problems else 'ok':6} {diagram.where} ({diagram.view}) -> {svg}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
