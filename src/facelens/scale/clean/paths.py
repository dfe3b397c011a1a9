"""A dataset is a local folder or a URI prefix in object storage (`facelens.io.storage`): the few
path operations the clean modules need, for both."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from facelens.io import readers, storage

log = logging.getLogger(__name__)


def join(dataset: Path | str, rel: str) -> Path | str:
    return storage.join(dataset, rel) if storage.is_uri(dataset) else Path(dataset) / rel


def path_name(path: Path | str) -> str:
    return storage.name(path) if storage.is_uri(path) else Path(path).name


def list_remote_dataset(prefix: str) -> pd.DataFrame:
    """Images under a URI prefix, one identity folder deep: columns identity, path, rel."""
    prefix = storage.public(prefix).rstrip("/") + "/"
    rels = [uri[len(prefix):] for uri in storage.list_files(prefix, readers.IMAGE_EXTS)]
    loose = [r for r in rels if "/" not in r]
    if loose:
        log.warning("%s: %d image(s) outside identity folders are not checked", prefix, len(loose))
    rows = [(rel.split("/", 1)[0], prefix + rel, rel) for rel in rels if "/" in rel]
    return pd.DataFrame(rows, columns=["identity", "path", "rel"])
