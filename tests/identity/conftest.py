"""Embeddings of the shared identity set, computed once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from shared_data import DATA

PEOPLE = ("amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart")


@dataclass
class IdentitySet:
    files: list[Path]
    labels: list[str]
    embeddings: np.ndarray
    whole_image: list[bool]


@pytest.fixture(scope="session")
def crops() -> IdentitySet:
    """The 40 face-api.js crops (8 people x 5), largest face each, whole-image fallback."""
    from facelens.identity.verify import embed

    ident = DATA / "identity"
    if not ident.is_dir():
        pytest.skip(f"real data not available: {ident}")
    files = [f for p in PEOPLE for f in sorted((ident / p).glob("*.png"))]
    embedded = [embed(f, max_faces=1, whole_if_none=True) for f in files]
    return IdentitySet(files, [f.parent.name for f in files], np.stack([e.faces.embedding[0] for e in embedded]),
                       [e.whole_image for e in embedded])
