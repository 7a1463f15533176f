"""API keys: made here, shown once, stored only as a SHA-256 digest.

A key looks like ``kefu_agent_<32 random URL-safe characters>`` (192 random bits). The
store keeps its SHA-256 (a fast hash is enough for a random secret of that size; slow
password hashes exist for guessable secrets) and its start, ``kefu_agent_AbCdEfGh``, so
a key can be recognised in ``kefu keys list`` without being recoverable.

Roles: ``app`` (the in-app assistant), ``agent`` (support agents' tools), ``admin``
(everything, including what ``app`` and ``agent`` may do). An endpoint names the roles
it accepts and calls :func:`verify_key` with the ``Authorization: Bearer`` value.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kefu.errors import AuthError, BadInputError, ForbiddenError
from service.store.records import ApiKeyRecord, Role

if TYPE_CHECKING:
    from service.store import Store

ROLES: Final[tuple[Role, ...]] = ("app", "agent", "admin")
KEY_PREFIX: Final = "kefu_"
#: Random characters shown in the stored prefix (48 of the key's 192 bits).
SHOWN_CHARS: Final = 8
#: ``secrets.token_urlsafe(24)`` gives 32 characters.
RANDOM_BYTES: Final = 24


def generate_key(role: Role) -> str:
    """A new random key for ``role``: ``kefu_<role>_<32 URL-safe characters>``."""
    _check_role(role)
    return f"{KEY_PREFIX}{role}_{secrets.token_urlsafe(RANDOM_BYTES)}"


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key: what the store keeps and looks keys up by."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """The start of a key that is safe to store and show: ``kefu_<role>_`` + 8 characters."""
    for role in ROLES:
        lead = f"{KEY_PREFIX}{role}_"
        if key.startswith(lead):
            return key[: len(lead) + SHOWN_CHARS]
    return key[:SHOWN_CHARS]


def create_key(
    store: Store, role: Role, name: str = "", *, allowed_origins: Sequence[str] = ()
) -> tuple[str, ApiKeyRecord]:
    """Make and store a new key; returns the plaintext key (show it once) and its record.

    ``allowed_origins`` limits a key used in web pages (the chat widget) to those origins."""
    key = generate_key(role)
    record = store.add_api_key(
        name=name, role=role, key_hash=hash_key(key), prefix=display_prefix(key), allowed_origins=allowed_origins
    )
    return key, record


#: A file in the data dir naming the databases (by a hash of their URL) for which API keys
#: were issued. It lives outside the database so that a database that vanished (and came
#: back empty) cannot make the server fall back to running open.
KEYS_MARKER: Final = "api-keys-issued"


def _database_tag(database_url: str) -> str:
    return hashlib.sha256(database_url.encode("utf-8")).hexdigest()[:32]


def note_keys_issued(data_dir: Path, database_url: str) -> None:
    """Remember that ``database_url`` had keys: from now on the server never runs open on it."""
    if keys_were_issued(data_dir, database_url):
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / KEYS_MARKER
    if not marker.exists():
        marker.write_text(
            "# API keys were issued for these kefu databases (SHA-256 of their URL): `kefu serve`\n"
            "# refuses to run one of them without authentication. Delete a line (or the file) only\n"
            "# to serve a local demo without keys on purpose.\n",
            encoding="utf-8",
        )
    with marker.open("a", encoding="utf-8") as out:
        out.write(_database_tag(database_url) + "\n")


def keys_were_issued(data_dir: Path, database_url: str) -> bool:
    marker = data_dir / KEYS_MARKER
    try:
        lines = marker.read_text(encoding="utf-8").split()
    except OSError:
        return False
    return _database_tag(database_url) in lines


def verify_key(store: Store, key: str | None, roles: Collection[Role] | None = None) -> ApiKeyRecord:
    """The record of a presented key that may act in one of ``roles`` (any role if ``None``).

    No key, or an unknown or revoked one: :class:`AuthError` (HTTP 401). A valid key
    whose role is not accepted: :class:`ForbiddenError` (403). ``admin`` is always accepted.
    """
    if not key or not key.strip():
        raise AuthError("no API key: send 'Authorization: Bearer <key>'")
    record = store.authenticate(hash_key(key.strip()))
    if record is None:
        raise AuthError("unknown or revoked API key")
    if roles is not None and record.role != "admin" and record.role not in roles:
        raise ForbiddenError(f"a key with role {record.role!r} may not do this")
    return record


def bearer_key(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header value, or ``None``."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def keys_command(
    store: Store,
    action: str,
    *,
    role: str | None = None,
    name: str | None = None,
    key_id: int | str | None = None,
    origins: Sequence[str] = (),
) -> str:
    """The output of ``kefu keys create|list|revoke``, for the CLI to print.

    ``create`` needs ``role`` (``name`` optional) and shows the key this one time;
    ``revoke`` needs ``key_id``. Bad arguments raise :class:`BadInputError`.
    """
    if action == "create":
        if role is None:
            raise BadInputError(f"kefu keys create needs --role ({', '.join(ROLES)})")
        key, record = create_key(store, _check_role(role), name or "", allowed_origins=origins)
        limited = f", for pages of {', '.join(record.allowed_origins)} only" if record.allowed_origins else ""
        return (
            f"Created {record.role} key {record.id}{_named(record)}{limited}. Store it now: it is not shown again."
            f"\n{key}"
        )
    if action == "list":
        records = store.list_api_keys()
        if not records:
            return "No API keys. Create one: kefu keys create --role app|agent|admin [--name NAME]"
        rows = [("ID", "ROLE", "NAME", "KEY", "CREATED", "LAST USED", "STATUS")]
        rows += [
            (
                str(r.id),
                r.role,
                r.name or "-",
                f"{r.prefix}...",
                _when(r.created_at),
                _when(r.last_used_at) if r.last_used_at else "never",
                f"revoked {_when(r.revoked_at)}" if r.revoked_at else "active",
            )
            for r in records
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    if action == "revoke":
        if key_id is None or not str(key_id).strip().isdigit():
            raise BadInputError("kefu keys revoke needs the key's ID (see kefu keys list)")
        record = store.revoke_api_key(int(key_id))
        return f"Revoked {record.role} key {record.id}{_named(record)}."
    raise BadInputError(f"unknown keys action {action!r}: use create, list or revoke")


def _check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise BadInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def _named(record: ApiKeyRecord) -> str:
    return f" ({record.name})" if record.name else ""


def _when(moment: object) -> str:
    from datetime import datetime

    return moment.strftime("%Y-%m-%d %H:%M UTC") if isinstance(moment, datetime) else "-"
