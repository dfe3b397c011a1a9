"""Module layering: which modules may import which (checked on the source, so lazy imports count)."""

import ast
import os
import subprocess
import sys
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


COMMAND_MODULES = ("plot_commands.py", "identity/commands.py", "scale/commands.py", "server/commands.py")


def test_no_command_module_imports_the_cli():
    for module in COMMAND_MODULES + ("console.py", "plot.py"):
        assert not {n for n in imported(module) if n.startswith("facelens.cli")}, module


def run_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


def test_importing_plot_loads_neither_typer_nor_the_commands():
    loaded = run_python("import sys, facelens.plot; print(sorted(m for m in sys.modules if m == 'typer' "
                        "or m.startswith('facelens.') and ('command' in m or m.endswith('.cli'))))")
    assert loaded.strip() == "[]"


def test_every_command_is_mounted_when_run_as_a_module():
    """`python -m facelens.cli` runs cli.py as __main__; the sub-commands must be on that app too."""
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    for command in (["plot"], ["gallery", "add"], ["clean"]):
        done = subprocess.run([sys.executable, "-m", "facelens.cli", *command, "--help"], capture_output=True,
                              text=True, env=env)
        assert done.returncode == 0 and "Usage" in done.stdout, (command, done.stdout + done.stderr)


def test_commands_that_embed_share_one_definition_of_the_embedder_options():
    """Every command with --embedder* options (serve aside: its two read settings) uses console's."""
    import typer

    from facelens import console
    from facelens.cli import app

    shared = [console.EMBEDDER, console.EMBEDDER_PRESET, console.EMBEDDER_INPUT, console.EMBEDDER_NORM,
              console.EMBEDDER_THRESHOLD]
    users = []

    def walk(command, name: str) -> None:
        for sub, child in getattr(command, "commands", {}).items():
            walk(child, f"{name} {sub}".strip())
        options = [p for p in command.params if any(o.startswith("--embedder") for o in p.opts)]
        if options and name != "serve":
            users.append(name)
            assert [(p.opts, p.help) for p in options] == [([o.param_decls[0]], o.help) for o in shared], name

    walk(typer.main.get_command(app), "")
    assert {"analyze", "verify", "cluster", "consistency", "clean", "gallery add"} <= set(users)
