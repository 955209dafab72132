"""The HTTP API over the domain packages: its routes, Open311, OGC API Features, OpenAPI, the app factory.

Access, scope, sessions, errors in words and the typed dependencies it shares with the pages are in ``web``.
"""
