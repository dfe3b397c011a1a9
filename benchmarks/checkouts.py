"""Earlier facelens checkouts for the benchmarks' `--compare`: the argument check, and the
environment that makes a child process import a checkout's `src/facelens`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def checkout(value: str) -> Path:
    """argparse `type=` for `--compare SRC`: SRC must hold src/facelens (otherwise a child would
    silently import the installed tree instead)."""
    src = Path(value)
    if not (src / "src" / "facelens").is_dir():
        raise argparse.ArgumentTypeError(f"{src}: no src/facelens there (e.g. git archive REV src | tar -x -C DIR)")
    return src.resolve()


def child_env(src: Path | None) -> dict[str, str]:
    """This process's environment, with `src/src` first on PYTHONPATH when a checkout is given."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src / "src"), env.get("PYTHONPATH", "")])
    return env
