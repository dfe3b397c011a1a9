"""What every CLI command module shares: the stderr console, `fail`, the progress bar and the --embedder* options.

Command modules import this, never `facelens.cli`, and add their commands in `register(app)`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from facelens.errors import FacelensError
from facelens.models.embedder import EmbedderSpec

console = Console(stderr=True)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` (taken literally, not as Rich markup) and exit with `code`."""
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print one `skipped: message` line (taken literally) for an input that gave an error row."""
    console.print(f"[yellow]skipped:[/yellow] {escape(message)}", soft_wrap=True)


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


# The options of every command that embeds faces (analyze, verify, cluster, gallery add/search,
# consistency, clean): one user-supplied ONNX embedder instead of dlib's descriptor. `serve` has its own
# --embedder and --embedder-preset, which fall back to FACELENS_EMBEDDER* settings.
EMBEDDER_OPTIONS = (  # (parameter, type, option), in --help order and embedder_spec's argument order
    ("embedder", Optional[Path], typer.Option(
        None, "--embedder", help="ONNX face-recognition model (e.g. an ArcFace or CurricularFace file you have) "
        "for identity, instead of dlib's 128-D descriptor.")),
    ("embedder_preset", Optional[str], typer.Option(
        None, "--embedder-preset", help="arcface or curricularface: 112 px, (x-127.5)/127.5, same person at "
        "cosine >= 0.3.")),
    ("embedder_input", Optional[int], typer.Option(
        None, "--embedder-input", min=16, help="Crop side in pixels (default: read from the model).")),
    ("embedder_norm", Optional[str], typer.Option(
        None, "--embedder-norm", help="Input values: arcface ((x-127.5)/127.5, default), 0-1, dlib, imagenet or raw.")),
    ("embedder_threshold", Optional[float], typer.Option(
        None, "--embedder-threshold", help="Same person at cosine similarity >= this (default 0.3).")),
)


def embedder_options(command: Callable[..., T]) -> Callable[..., T]:
    """Give a Typer command the --embedder* options, last, in place of its `embedder` parameter.

    The command is called with `embedder=` their `EmbedderSpec` (None without --embedder); a bad
    combination exits 2 before it runs (`embedder_spec`).
    """
    signature = inspect.signature(command)
    kept = [p for p in signature.parameters.values() if p.name != "embedder"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
             for name, kind, option in EMBEDDER_OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        spec = embedder_spec(*(kwargs.pop(name, None) for name, _, _ in EMBEDDER_OPTIONS))
        return command(*args, embedder=spec, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    # Typer takes each parameter's type from get_type_hints, which reads these: `embedder` is now the path.
    wrapper.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != "embedder"},
                               **{name: kind for name, kind, _ in EMBEDDER_OPTIONS}}
    return wrapper


def embedder_spec(path: Path | None, preset: str | None = None, size: int | None = None, norm: str | None = None,
                  threshold: float | None = None) -> EmbedderSpec | None:
    """The `EmbedderSpec` of the --embedder options (None without --embedder); a bad one exits 2."""
    if path is None:
        if any(v is not None for v in (preset, size, norm, threshold)):
            fail("the --embedder-* options need --embedder PATH.onnx", 2)
        return None
    try:
        return EmbedderSpec.from_options(path, preset, size, norm, threshold)
    except FacelensError as exc:
        fail(str(exc), 2)
