"""Module layering: which modules may import which (checked on the source, so lazy imports count)."""

import ast
from pathlib import Path

import facelens

SRC = Path(facelens.__file__).parent


def imported(module: str) -> set[str]:
    """Every facelens module that `module` (a path under src/facelens) imports, at any depth of the code."""
    tree = ast.parse((SRC / module).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("facelens")}


def test_pipeline_and_tracker_do_not_depend_on_the_api():
    assert not {n for n in imported("track.py") if n.startswith("facelens.api")}
    assert not {n for n in imported("pipeline.py") if n.startswith(("facelens.api", "facelens.track"))}


def test_tracker_calls_no_private_stage():
    source = (SRC / "track.py").read_text()
    assert "pipeline._" not in source and "analyzer" not in source.replace("`Analyzer`", "")
