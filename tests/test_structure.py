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

    shared = [option for _, _, option in console.EMBEDDER_OPTIONS]
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


def test_embedder_options_hand_the_command_one_spec(tmp_path: Path):
    """The decorated command sees its own parameters and `embedder`: the options' spec, or None; a bad
    combination exits 2 with one line before the command runs."""
    import typer
    from typer.testing import CliRunner

    from facelens.console import embedder_options
    from facelens.models.embedder import EmbedderSpec

    seen = []

    @embedder_options
    def command(name: str = typer.Argument(...), embedder: EmbedderSpec | None = None) -> None:
        seen.append((name, embedder))

    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)  # two commands: `command` is then a sub-command, as in facelens
    runner = CliRunner()
    model = tmp_path / "m.onnx"
    ok = runner.invoke(app, ["command", "a", "--embedder", str(model), "--embedder-preset", "arcface",
                             "--embedder-input", "96", "--embedder-norm", "0-1", "--embedder-threshold", "0.4"])
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(app, ["command", "b"]).exit_code == 0
    assert seen == [("a", EmbedderSpec(model, input_size=96, norm="0-1", threshold=0.4)), ("b", None)]
    bad = runner.invoke(app, ["command", "c", "--embedder-preset", "arcface"])
    assert bad.exit_code == 2 and bad.output.strip() == "error: the --embedder-* options need --embedder PATH.onnx"
    assert len(seen) == 2
