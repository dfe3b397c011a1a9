"""Blendshape columns through the REST API match the library's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from facelens import Analyzer
from facelens.io.readers import read_image
from facelens.models.blendshapes import BLENDSHAPE_COLUMNS, blendshape_index
from facelens.schema import columns

from shared_data import SAMPLES


def test_analyze_returns_blendshapes(client):
    path = SAMPLES / "astronaut.jpg"
    r = client.post("/api/v1/analyze?features=blendshapes,aus",
                    files={"file": (path.name, path.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == columns({"blendshapes", "aus"})
    assert set(BLENDSHAPE_COLUMNS) <= set(body["columns"]) and "_neutral" not in body["columns"]
    rows = pd.DataFrame(body["rows"])
    got = rows[list(BLENDSHAPE_COLUMNS)].to_numpy(float)
    expected = Analyzer("blendshapes,aus").faces(read_image(path)).blendshapes
    want = expected[:, [blendshape_index(n) for n in BLENDSHAPE_COLUMNS]]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert ((got >= 0) & (got <= 1)).all() and got.max() > 0.5  # the astronaut smiles
