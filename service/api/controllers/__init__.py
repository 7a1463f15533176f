"""The routes: thin glue from HTTP to :mod:`service.api.assistant` and the runtime."""
