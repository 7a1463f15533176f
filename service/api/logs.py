"""Structured JSON logs with the request id, redacted before they are written.

Nothing logs request or response bodies; as a second line of defence every message
(and traceback) goes through the same redactor as stored text, so a seed phrase that
reaches a log call (say, inside an exception message) is masked before it is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from kefu.redaction import Redactor

#: The id of the request being served (set by the request middleware).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kefu_request_id", default=None)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_redactor = Redactor()


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID if it is a sane token and no secret (64 hex characters
    read as a private key), else a new random id: it is logged and echoed as it is."""
    if header and _REQUEST_ID.fullmatch(header) and not _redactor.redact(header).found:
        return header
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, extra fields.

    Extra fields come from ``logger.info(..., extra={"fields": {...}})``.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            out["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: redact(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def redact(text: str) -> str:
    return _redactor.redact(text).text


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for kefu, Litestar and uvicorn; uvicorn's access log is off
    (the request middleware writes one line per request instead)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "litestar"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic and faiss narrate every start-up step at INFO; httpx logs each URL it calls,
    # and a webhook URL can carry a token in its path.
    for name in ("alembic", "faiss.loader", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
