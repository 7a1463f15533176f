"""The ``openvino`` runtime: its fall-backs to ONNX Runtime (fast), and on a tiny real ONNX
file (slow only because it loads the model libraries; OpenVINO compiles it in well under a
second) the same vectors as ONNX Runtime, the same from concurrent calls as from one at a
time, and passages spread over the streams."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kefu.onnx_embedder import ONNX_MARKER, OnnxEmbedder, OpenVinoSession, embedder_for_runtime, onnx_file
from tests.test_onnx_embedder import DIM, _model_folder

VOCAB = 16


def _tiny_transformer(path: Path) -> None:
    """input_ids, attention_mask -> last_hidden_state: a token's embedding, mixed by a matrix
    and offset by the mask (so both inputs are used as a real export uses them)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    table = rng.normal(size=(VOCAB, DIM)).astype(np.float32)
    mix = rng.normal(size=(DIM, DIM)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["embedded"]),
        helper.make_node("MatMul", ["embedded", "mix"], ["mixed"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis"], ["mask_3d"]),
        helper.make_node("Add", ["mixed", "mask_3d"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", DIM])],
        initializer=[
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(mix, "mix"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = _model_folder(tmp_path / "model")
    _tiny_transformer(onnx_file(folder, "onnx"))
    return folder


@pytest.fixture
def unread_folder(tmp_path: Path) -> Path:
    """A model folder whose ONNX file is there but never read (the runtime is chosen, not loaded)."""
    folder = _model_folder(tmp_path / "model")
    (folder / "onnx").mkdir()
    onnx_file(folder, "onnx").write_bytes(b"not read in this test")
    return folder


TEXTS = ["gas", "seed phrase is high", "fee", "gas fee is high", "seed", "phrase is gas"]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.mark.slow
def test_openvino_gives_onnx_runtimes_vectors(folder: Path) -> None:
    ort = OnnxEmbedder(str(folder), onnx_file(folder, "onnx"), threads=1, runtime="onnx")
    ov = OnnxEmbedder(str(folder), onnx_file(folder, "openvino"), threads=1, runtime="openvino")
    assert onnx_file(folder, "openvino") == onnx_file(folder, "onnx")
    for ours, theirs in (
        (ov.embed_queries(TEXTS), ort.embed_queries(TEXTS)),
        (ov.embed_passages(TEXTS), ort.embed_passages(TEXTS)),
    ):
        assert ours.shape == (len(TEXTS), DIM) and ours.dtype == np.float32
        assert _cosines(ours, theirs).min() > 0.999
    assert isinstance(ov._session, OpenVinoSession) and ov._session.precision


@pytest.mark.slow
def test_concurrent_calls_and_passages_spread_over_streams_give_the_same_vectors(folder: Path) -> None:
    one = OnnxEmbedder(str(folder), onnx_file(folder, "onnx"), threads=1, runtime="openvino", batch_size=2)
    two = OnnxEmbedder(str(folder), onnx_file(folder, "onnx"), threads=2, runtime="openvino", batch_size=2)
    serial = one.embed_passages(TEXTS)  # three batches of two, one after another
    spread = two.embed_passages(TEXTS)  # the same three batches on two streams
    assert isinstance(two._session, OpenVinoSession) and two._session.streams == 2
    assert np.allclose(serial, spread, atol=1e-6)
    alone = [one.embed_queries([t])[0] for t in TEXTS]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda t: two.embed_queries([t])[0], TEXTS * 4))
    for i, vector in enumerate(together):
        assert np.allclose(vector, alone[i % len(TEXTS)], atol=1e-6), TEXTS[i % len(TEXTS)]


def test_openvino_that_failed_its_check_uses_onnx_runtime(
    unread_folder: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = unread_folder
    monkeypatch.setattr("kefu.onnx_embedder._installed", lambda module: True)
    (folder / "onnx" / ONNX_MARKER).write_text(json.dumps({"openvino": {"ok": False, "min_cosine": 0.98}}))
    with caplog.at_level(logging.WARNING, logger="kefu.embedder"):
        embedder = embedder_for_runtime(str(folder), "openvino", threads=1)
    assert isinstance(embedder, OnnxEmbedder) and embedder.runtime == "onnx"
    assert "too far from torch" in caplog.text and "0.98" in caplog.text


def test_openvino_not_installed_uses_onnx_runtime(
    unread_folder: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = unread_folder
    monkeypatch.setattr("kefu.onnx_embedder._installed", lambda module: module != "openvino")
    with caplog.at_level(logging.WARNING, logger="kefu.embedder"):
        embedder = embedder_for_runtime(str(folder), "openvino")
    assert isinstance(embedder, OnnxEmbedder) and embedder.runtime == "onnx"
    assert "openvino is not installed" in caplog.text
    monkeypatch.setattr("kefu.onnx_embedder._installed", lambda module: True)
    checked = embedder_for_runtime(str(folder), "openvino", threads=2)
    assert isinstance(checked, OnnxEmbedder) and checked.runtime == "openvino" and checked.threads == 2
