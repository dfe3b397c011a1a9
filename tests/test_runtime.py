"""The model runtime interface (one `Model` called from several threads at once, its LiteRT
interpreter pool, `sigmoid`) and the bundled model files."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from facelens.models import runtime
from facelens.models.runtime import ASSETS, Model, file_sha256, manifest, sigmoid

MAX_ASSET_BYTES = 20_000_000  # every committed model file stays under 20 MB


@pytest.mark.parametrize("name, shape", [("face_landmarks_detector", (1, 256, 256, 3)), ("emotion", (2, 64, 64, 1))])
def test_model_called_from_threads_gives_each_call_its_own_result(name, shape):
    """Concurrent calls on different inputs (LiteRT: taking turns; onnxruntime: overlapping) must
    each return what a lone call on that input returns."""
    model = Model(name)
    rng = np.random.default_rng(0)
    inputs = [rng.random(shape, dtype=np.float32) for _ in range(6)]
    alone = [model(x)[0] for x in inputs]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda x: model(x)[0], inputs * 3))
    for i, out in enumerate(together):
        np.testing.assert_allclose(out, alone[i % len(inputs)], rtol=1e-5, atol=1e-5)
    assert not np.allclose(alone[0], alone[1])  # the inputs differ, so a mix-up would show


def test_litert_pool_grows_only_while_calls_overlap_and_stays_within_its_size(monkeypatch):
    """One caller at a time reuses one interpreter; six overlapping callers get at most `pool_size()`."""
    monkeypatch.setattr(runtime, "pool_size", lambda: 2)
    model = Model("face_landmarks_detector")  # ~5 ms a call, so six threads' calls overlap
    x = np.random.default_rng(1).random((1, 256, 256, 3), dtype=np.float32)
    alone = model(x)[0]
    for _ in range(3):
        model(x)
    assert model.interpreters == 1
    with ThreadPoolExecutor(6) as pool:
        outs = list(pool.map(lambda _: model(x)[0], range(24)))
    assert model.interpreters == 2
    for out in outs:
        np.testing.assert_allclose(out, alone, rtol=1e-6, atol=1e-6)
    assert Model("emotion").interpreters == 0  # onnxruntime: one shared session, no pool


def test_bundled_assets_are_small_and_match_the_manifest():
    bundled = [e for e in manifest().values() if not e["file"].startswith("package:")]
    assert bundled
    for entry in bundled:
        path = ASSETS / entry["file"]
        assert path.stat().st_size == entry["bytes"] < MAX_ASSET_BYTES, entry["file"]
        assert file_sha256(path) == entry["sha256"], entry["file"]


def test_sigmoid_is_the_logistic_without_overflow():
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning at extreme logits
        extreme = sigmoid(np.array([-1e4, -100.0, 100.0, 1e4], np.float32))
    assert extreme.dtype == np.float32
    np.testing.assert_allclose(extreme, [0, 0, 1, 1], atol=1e-30)
    assert float(sigmoid(0.0)) == 0.5


def test_a_long_batch_runs_in_chunks_with_the_results_of_one_call():
    x = np.random.default_rng(3).random((19, 64, 64, 1)).astype(np.float32)
    whole, chunked = Model("emotion"), Model("emotion", max_batch=8)
    assert np.allclose(whole(x)[0], chunked(x)[0], atol=1e-5)
    calls, run = [], chunked._session.run
    chunked._session.run = lambda out, feeds: calls.append(len(next(iter(feeds.values())))) or run(out, feeds)
    assert chunked(x)[0].shape == (19, 7) and calls == [8, 8, 3]
