"""kefu's HTTP API (Litestar): the only package that imports a web framework.

from service.api import create_app
app = create_app(Settings.from_env())
"""

from service.api.app import create_app

__all__ = ["create_app"]
