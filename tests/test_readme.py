"""Every ```bash and ```python block of README.md runs as written, from a copy of the repository root.

Conventions the README keeps (so new sections are covered without touching this test):
```bash blocks are commands to run, one per line (`&&` chains run in order); ```python blocks
are self-contained scripts; ```text blocks are synopses and never run. Set-up steps below are
not run, each for the reason given.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from shared_data import ROOT

README = ROOT / "README.md"
NOT_RUN = {
    "pip install": "installs into the environment this suite already runs in",
    "python -m pytest": "the test suite itself",
}
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks(kind: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text(encoding="utf-8")) if lang == kind]


def commands() -> list[str]:
    """The bash command lines, `&&` chains split, comments dropped, set-up steps left out."""
    out = []
    for body in blocks("bash"):
        for line in body.splitlines():
            for part in line.split("#", 1)[0].split("&&"):
                part = part.strip()
                if part and not any(part.startswith(p) for p in NOT_RUN):
                    out.append(part)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A scratch folder that looks like the repository root (src/ and README.md linked in)."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("src", "README.md"):
        (root / name).symlink_to(ROOT / name)
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def test_readme_blocks_are_found():
    """The README's runnable blocks are where this test looks (a renamed fence would drop them)."""
    assert len(blocks("python")) >= 1 and "facelens demo" in commands()
    assert any(c.startswith("facelens analyze src/facelens/samples/") for c in commands())


@pytest.mark.slow  # the demo and the sample video, with every feature
@pytest.mark.parametrize("command", commands())
def test_readme_command_runs_as_written(command: str, workdir: Path) -> None:
    done = subprocess.run(["bash", "-c", command], cwd=workdir, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow  # loads every model
@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_readme_python_runs_as_written(index: int, workdir: Path) -> None:
    code = blocks("python")[index]
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{code}\n{done.stderr[-3000:]}"
