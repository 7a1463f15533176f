"""JSON Lines input: each line one object, and a bad line an error naming the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kefu.errors import BadInputError


def read_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each non-blank line of ``path`` as ``("<path>:<line>", object)``, for messages about it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 ({exc})") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise BadInputError(f"{where}: each line must be a JSON object")
        yield where, raw
