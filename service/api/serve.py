"""``kefu serve``: the API under uvicorn, with the open-demo rule for API keys.

With no active API key in the store the server would let anyone do anything. On a
loopback address that is a local demo, allowed with a loud warning; on any other
address ``kefu serve`` refuses to start until a key exists. Once keys were issued, a
marker file in the data dir remembers it: a database that comes back with no keys at
all (deleted, replaced) never makes the server run open.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from typing import TYPE_CHECKING

from kefu.errors import ConfigError

if TYPE_CHECKING:
    from kefu.settings import Settings

log = logging.getLogger("kefu.serve")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a public address


def open_access_warning(host: str, port: int) -> str:
    return (
        f"kefu is serving WITHOUT AUTHENTICATION on http://{host}:{port}: there are no API keys, so "
        "anyone who can reach this address may call every endpoint, admin ones included. This is "
        "for a local demo only. To require keys, create one and restart: kefu keys create --role admin"
    )


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Run the API until interrupted; :class:`ConfigError` if it may not start."""
    import uvicorn

    from service.api.app import create_app
    from service.api.logs import configure_logging
    from service.keys import KEYS_MARKER, keys_were_issued, note_keys_issued
    from service.store import Store

    configure_logging(settings.log_level)
    store = Store.from_settings(settings)
    try:
        store.migrate()
        every_key = store.list_api_keys()
        url = settings.database_url_resolved
        if every_key:
            note_keys_issued(settings.data_dir, url)
        elif keys_were_issued(settings.data_dir, url):
            raise ConfigError(
                f"refusing to serve without authentication: the database has no API keys at all, but keys "
                f"were issued for this deployment ({settings.data_dir / KEYS_MARKER}). The database may have "
                "been lost or replaced: restore it, or create a key (kefu keys create --role admin). To serve "
                "a local demo without keys on purpose, delete that file"
            )
        open_access = not any(key.revoked_at is None for key in every_key)
        if open_access and not is_loopback(host):
            raise ConfigError(
                f"refusing to serve on {host} without API keys: anyone who can reach it could call "
                "every endpoint. Create a key first (kefu keys create --role admin), or serve on "
                "127.0.0.1 for a local demo"
            )
        if open_access:
            banner = "!" * 100
            message = open_access_warning(host, port)
            print(f"{banner}\n{message}\n{banner}", file=sys.stderr, flush=True)
            log.warning(message)
        app = create_app(settings, store=store, open_access=open_access)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=30,
            server_header=False,
        )
    finally:
        store.close()
