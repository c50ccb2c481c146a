"""The README diagrams: the three views exist, every component they name still exists, and each
renders offline (mermaid-cli with the system Chromium) without a syntax error.

A machine without the renderer (Node, `make diagrams-install`, Chromium) skips the rendering
with the reason; CI sets USERS_API_REQUIRE_DIAGRAMS=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os

import pytest

from tests.docs.diagrams import REPO, Diagram, check_problems, diagrams, parse, render, renderer_missing

VIEWS = {"request path", "deploy path", "local loop"}
ALL = diagrams()


def _renderer_or_skip() -> None:
    if reason := renderer_missing():
        if os.environ.get("USERS_API_REQUIRE_DIAGRAMS") == "1":
            pytest.fail(f"USERS_API_REQUIRE_DIAGRAMS=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def test_the_three_views_are_drawn_once_each():
    views = [diagram.view for diagram in ALL]
    assert VIEWS <= set(views), f"views drawn: {views}"
    assert len(views) == len(set(views)), f"a view is drawn twice: {views}"


@pytest.mark.parametrize("diagram", ALL, ids=[diagram.where for diagram in ALL])
def test_every_component_the_diagram_names_exists(diagram):
    assert diagram.node_ids(), "no nodes found"
    assert check_problems(diagram) == []


@pytest.mark.parametrize("diagram", ALL, ids=[diagram.where for diagram in ALL])
def test_the_diagram_renders(diagram, tmp_path):
    _renderer_or_skip()
    svg = tmp_path / "diagram.svg"
    result = render(diagram, svg)
    assert result.returncode == 0, f"{diagram.where}: {result.stderr[-3000:]}"
    assert "<svg" in svg.read_text()


def test_a_syntax_error_fails_the_render(tmp_path):
    _renderer_or_skip()
    broken = Diagram(REPO / "README.md", 1, "flowchart LR\n  a[\"Client\"] --> b[\"ALB\"\n")
    result = render(broken, tmp_path / "broken.svg")
    assert result.returncode != 0
    assert "Parse error" in result.stderr


def test_the_check_catches_an_unchecked_node_a_stale_check_and_a_vanished_component():
    diagram = parse(REPO / "README.md", 1, [
        "flowchart LR",
        "  %% check routes = api/app.py : Chalice(",
        "  %% check gone = api/no_such_module.py",
        "  %% check renamed = api/app.py : class NoSuchThing",
        "  %% check stale = api/app.py",
        '  subgraph pod["Pod"]',
        '    routes["Chalice routes"] -->|"calls"| svc(["service"])',
        "  end",
        '  gone[("gone")] --- renamed{{"renamed"}}',
    ])
    problems = "\n".join(check_problems(diagram))
    assert diagram.node_ids() == {"pod", "routes", "svc", "gone", "renamed"}
    assert "'pod' has no `%% check" in problems and "'svc' has no `%% check" in problems
    assert "`%% check stale` names no node" in problems
    assert "no file matches api/no_such_module.py" in problems
    assert "does not contain 'class NoSuchThing'" in problems
    assert "'routes'" not in problems
