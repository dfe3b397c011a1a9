"""A dataset is a local folder or a URI prefix in object storage (`facelens.io.storage`): the few
path operations the clean modules need, for both."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from facelens.io import readers, storage

log = logging.getLogger(__name__)


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file, or an object by URI, as RGB."""
    if storage.is_uri(path):
        return readers.read_image(storage.read_bytes(str(path)), name=str(path))
    return readers.read_image(path)


def join(dataset: Path | str, rel: str) -> Path | str:
    return storage.join(dataset, rel) if storage.is_uri(dataset) else Path(dataset) / rel


def path_name(path: Path | str) -> str:
    return storage.name(path) if storage.is_uri(path) else Path(path).name


def folder_files(folder: Path | str) -> list[Path | str]:
    if storage.is_uri(folder):
        return list(storage.list_files(str(folder), readers.IMAGE_EXTS))
    return sorted(p for p in Path(folder).glob("*") if p.is_file())


def list_remote_dataset(prefix: str) -> pd.DataFrame:
    """Images under a URI prefix, one identity folder deep: columns identity, path, rel."""
    prefix = storage.public(prefix).rstrip("/") + "/"
    rels = [uri[len(prefix):] for uri in storage.list_files(prefix, readers.IMAGE_EXTS)]
    loose = [r for r in rels if "/" not in r]
    if loose:
        log.warning("%s: %d image(s) outside identity folders are not checked", prefix, len(loose))
    rows = [(rel.split("/", 1)[0], prefix + rel, rel) for rel in rels if "/" in rel]
    return pd.DataFrame(rows, columns=["identity", "path", "rel"])
