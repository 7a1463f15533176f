"""The ONNX Runtime embedder: pooling, prompts and batching with a fake session (fast), the
fall-back to torch where its file is missing, and the real exported files against torch (slow)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kefu.embedder import SentenceTransformerEmbedder, embedder_from_settings
from kefu.errors import NotReadyError
from kefu.onnx_embedder import (
    ONNX_MARKER,
    OnnxEmbedder,
    embedder_for_runtime,
    mean_pool_normalised,
    onnx_file,
)
from kefu.settings import Settings

DIM = 8


def _model_folder(path: Path, *, pooling: str = "mean") -> Path:
    """A sentence-transformers folder's configuration with a word-level fast tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = ["<s>", "<pad>", "</s>", "<unk>", "query:", "passage:", "seed", "phrase", "gas", "fee", "is", "high"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    path.mkdir(parents=True)
    tokenizer.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>"}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.modules.pooling.Pooling"},
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.base.modules.normalize.Normalize",
        },
    ]
    (path / "modules.json").write_text(json.dumps(modules))
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": DIM, "pooling_mode": pooling}))
    (path / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "passage": "passage: ", "document": "passage: "}})
    )
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512}))
    return path


class FakeSession:
    """Token id -> a fixed vector per position-free token, as a transformer that ignores context
    would give; padding rows get a large vector, so pooling them in shows."""

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.table = rng.normal(size=(16, DIM)).astype(np.float32)
        self.table[1] = 100.0  # <pad>
        self.calls: list[tuple[int, int]] = []

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]:
        ids = input_feed["input_ids"]
        assert output_names == ["last_hidden_state"] and ids.dtype == np.int64
        assert input_feed["attention_mask"].shape == ids.shape
        self.calls.append(ids.shape)
        return [self.table[ids]]


class FakeSessionEmbedder(OnnxEmbedder):
    def _open_session(self) -> Any:
        self.session = FakeSession()
        return self.session


def _expected(session: FakeSession, ids: list[int]) -> np.ndarray:
    v = session.table[ids].mean(axis=0)
    return v / np.linalg.norm(v)


def test_mean_pooling_leaves_out_masked_tokens_and_normalises() -> None:
    hidden = np.array([[[1.0, 0.0], [0.0, 1.0], [50.0, 50.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    pooled = mean_pool_normalised(hidden, mask)
    assert pooled.dtype == np.float32
    assert np.allclose(pooled, [[2**-0.5, 2**-0.5]])


def test_prompts_pooling_and_order_match_one_text_at_a_time(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "model")
    embedder = FakeSessionEmbedder(str(folder), folder / "onnx" / "model.onnx", batch_size=2)
    texts = ["gas", "seed phrase is high", "fee", "gas fee is high"]
    vectors = embedder.embed_queries(texts)
    session = embedder.session
    vocab = {"query:": 4, "passage:": 5, "seed": 6, "phrase": 7, "gas": 8, "fee": 9, "is": 10, "high": 11}
    for text, vector in zip(texts, vectors, strict=True):
        ids = [0, vocab["query:"], *(vocab[w] for w in text.split()), 2]
        assert np.allclose(vector, _expected(session, ids), atol=1e-6), text
    # longest first, two a batch: each batch padded to its own longest text only
    assert session.calls == [(2, 7), (2, 4)]
    passage = embedder.embed_passages(["gas"])[0]
    assert np.allclose(passage, _expected(session, [0, vocab["passage:"], vocab["gas"], 2]), atol=1e-6)
    assert embedder.embed_queries([]).shape == (0, DIM) and embedder.dim == DIM


def test_a_pipeline_it_does_not_reproduce_is_refused(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "model", pooling="cls")
    with pytest.raises(NotReadyError, match="mean pooling"):
        FakeSessionEmbedder(str(folder), folder / "onnx" / "model.onnx").warm_up()


def test_missing_onnx_file_falls_back_to_torch_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _model_folder(tmp_path / "model")
    settings = Settings.from_env({"KEFU_EMBEDDING_MODEL": str(folder), "KEFU_EMBED_RUNTIME": "onnx-int8"})
    with caplog.at_level(logging.WARNING, logger="kefu.embedder"):
        embedder = embedder_from_settings(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.model_id == str(folder)
    assert "KEFU_EMBED_RUNTIME=onnx-int8" in caplog.text and "model_qint8.onnx" in caplog.text
    assert "torch" in caplog.text and "kefu setup-models" in caplog.text


def test_torch_runtime_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kefu.embedder"):
        embedder = embedder_for_runtime(str(tmp_path), "torch")
    assert isinstance(embedder, SentenceTransformerEmbedder) and not caplog.text


def test_int8_that_failed_its_check_on_this_cpu_uses_the_fp32_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _model_folder(tmp_path / "model")
    (folder / "onnx").mkdir()
    for runtime in ("onnx", "onnx-int8"):
        onnx_file(folder, runtime).write_bytes(b"not read in this test")
    (folder / "onnx" / ONNX_MARKER).write_text(json.dumps({"onnx-int8": {"ok": False, "min_cosine": 0.97}}))
    monkeypatch.setattr("kefu.onnx_embedder._installed", lambda module: True)
    with caplog.at_level(logging.WARNING, logger="kefu.embedder"):
        embedder = embedder_for_runtime(str(folder), "onnx-int8", threads=1)
    assert isinstance(embedder, OnnxEmbedder)
    assert (embedder.runtime, embedder.onnx_path, embedder.threads) == ("onnx", onnx_file(folder, "onnx"), 1)
    assert "too far from torch" in caplog.text and "0.97" in caplog.text


TEXTS = [
    "转账一直显示打包中怎么办？",
    "忘记钱包密码了，但是助记词还在，怎么重新导入？",
    "客服绝不会向你索要助记词或私钥。",
    "My USDT transfer has been pending since yesterday.",
    "Never share your recovery phrase with anyone, including support staff.",
]


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnx", "onnx-int8", "openvino"])
def test_exported_files_embed_as_torch_does(settings: Settings, embedder: SentenceTransformerEmbedder, runtime) -> None:  # type: ignore[no-untyped-def]
    path = onnx_file(settings.default_embedder_dir, runtime)
    if not path.is_file():
        pytest.fail(f"no {path}: run `make models` first")
    onnx = OnnxEmbedder(embedder.model_id, path, runtime=runtime)
    for ours, theirs in (
        (onnx.embed_queries(TEXTS), embedder.embed_queries(TEXTS)),
        (onnx.embed_passages(TEXTS), embedder.embed_passages(TEXTS)),
    ):
        cosines = (ours * theirs).sum(axis=1)
        # OpenVINO computes in bf16 on CPUs with AMX: close to fp32, not equal to it.
        assert cosines.min() > {"onnx": 0.9999, "openvino": 0.999}.get(runtime, 0.99), cosines
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "gold"),
    [
        ("转账一直在打包中好几个小时了", "help/zh/transfers/pending-transfer.md"),
        ("How do I revoke a token approval?", "help/en/approvals/revoke-approval.md"),
        ("充值到交易所忘记填memo了", "help/zh/transfers/memo-tag.md"),
    ],
)
def test_a_torch_built_index_is_searched_with_int8_questions(
    settings: Settings, harbor_data_dir: Path, query: str, gold: str
) -> None:
    from service.retriever import retriever_from_settings

    path = onnx_file(settings.default_embedder_dir, "onnx-int8")
    onnx = OnnxEmbedder(settings.embedding_model_id, path, runtime="onnx-int8")
    retriever = retriever_from_settings(settings.with_overrides(data_dir=harbor_data_dir), "harbor", embedder=onnx)
    hits = retriever.search(query, k=3).hits
    assert gold in [p for h in hits for p in h.paths], [h.doc_id for h in hits]


def test_an_index_adapter_is_applied_through_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _model_folder(tmp_path / "model")
    onnx = FakeSessionEmbedder(str(folder), folder / "onnx" / "model.onnx")
    adapter = tmp_path / "adapter.safetensors"
    with caplog.at_level(logging.INFO, logger="kefu.embedder"):
        adapted = onnx.adapted(adapter)
    assert isinstance(adapted, SentenceTransformerEmbedder)
    assert (adapted.adapter, adapted.model_id) == (adapter, str(folder))
    assert onnx.adapter is None and onnx.base is onnx
    assert "embedded with torch" in caplog.text


def test_setup_marks_and_says_which_runtimes_may_use_a_new_export(tmp_path: Path) -> None:
    from kefu.models.provision import INT8_MIN_COSINE, ONNX_MIN_COSINE, _onnx_marker, _onnx_ready

    work = tmp_path / "work"
    work.mkdir()
    (work / "model.onnx").write_bytes(b"x" * 10)
    (work / "model_int8.onnx").write_bytes(b"y" * 4)
    files = {"onnx": tmp_path / "model.onnx", "onnx-int8": tmp_path / "model_int8.onnx"}
    checks = {
        "onnx": {"min_cosine": 0.9999},
        "onnx-int8": {"min_cosine": round(INT8_MIN_COSINE - 0.01, 4)},
        "openvino": {"min_cosine": ONNX_MIN_COSINE},
    }
    info = _onnx_marker(checks, files, work, {"verified_at": "then"})
    assert info["embedder_verified_at"] == "then"
    assert info["onnx"] == {"file": "model.onnx", "size": 10, "min_cosine": 0.9999, "ok": True}
    assert info["onnx-int8"] == {"file": "model_int8.onnx", "size": 4, **checks["onnx-int8"], "ok": False}
    assert info["openvino"] == {"min_cosine": ONNX_MIN_COSINE, "ok": True}
    said = _onnx_ready(tmp_path, checks)
    assert "int8 falls back to fp32" in said and "OpenVINO falls back" not in said
    checks["onnx-int8"]["min_cosine"] = INT8_MIN_COSINE
    checks["openvino"]["min_cosine"] = 0.998
    said = _onnx_ready(tmp_path, checks)
    assert "int8 falls back" not in said and "OpenVINO falls back to fp32" in said
