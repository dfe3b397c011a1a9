"""Quarantine I/O: move flagged files out of a dataset with a sha256 log, and move them back."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from facelens.errors import FacelensError
from facelens.io import storage
from facelens.models.runtime import file_sha256
from facelens.scale.clean.rules import CleanReport

QUARANTINE_LOG = "quarantine.json"


class CleanError(FacelensError):
    """A dataset, report or quarantine log is not in the state the operation needs."""



def check_no_quarantine(report: Path) -> None:
    """Raise `CleanError` while an earlier quarantine of this report is in place."""
    if (report / QUARANTINE_LOG).exists():
        raise CleanError(f"{report / QUARANTINE_LOG} records a quarantine still in place; "
                         f"run `facelens clean --undo {report}` first")


def quarantine(result: CleanReport) -> list[dict[str, Any]]:
    """Move every flagged file to REPORT/quarantine/<same relative path>; log the moves.

    Refuses while an earlier quarantine of this report is still in place (undo it first).
    """
    if storage.is_uri(result.dataset):
        raise CleanError(f"{result.dataset}: quarantine moves files of a local dataset; this one is in object storage "
                         "(the report lists what to move)")
    check_no_quarantine(result.report)
    moves = []
    for rel, reasons in result.flagged.items():
        moves.append({"path": rel, "quarantined": f"quarantine/{rel}", "sha256": file_sha256(result.dataset / rel),
                      "reasons": reasons})
    entry = {"dataset": str(result.dataset.resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "moves": moves}
    (result.report / QUARANTINE_LOG).write_text(json.dumps(entry, indent=2))
    for move in moves:
        dst = result.report / move["quarantined"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(result.dataset / move["path"], dst)
    return moves


def undo(report: str | Path) -> int:
    """Move every quarantined file back where it was (checked by sha256); returns how many.

    The log is kept, renamed quarantine.undone-<time>.json, and emptied quarantine folders removed.
    """
    report = Path(report)
    log_path = report / QUARANTINE_LOG
    if not log_path.exists():
        raise CleanError(f"{report}: no {QUARANTINE_LOG}; nothing to undo")
    entry = json.loads(log_path.read_text())
    dataset = Path(entry["dataset"])
    for move in entry["moves"]:
        src, dst = report / move["quarantined"], dataset / move["path"]
        if dst.exists():
            raise CleanError(f"{dst} exists again; move it away, then undo")
        if not src.exists() or file_sha256(src) != move["sha256"]:
            raise CleanError(f"{src} is missing or changed since it was quarantined")
    for move in entry["moves"]:
        dst = dataset / move["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(report / move["quarantined"], dst)
    log_path.rename(report / f"quarantine.undone-{time.strftime('%Y%m%dT%H%M%S')}.json")
    for folder in sorted((report / "quarantine").rglob("*"), key=lambda p: -len(p.parts)) + [report / "quarantine"]:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return len(entry["moves"])
