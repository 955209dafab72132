"""What serving people over HTTP needs, whether JSON (``api``) or pages (``map_ui``).

Access and scope, request-scoped connections, typed dependencies, sessions and CSRF, errors in words,
the catalogues and the sentences, uploads: both stand on these, and neither imports the other.
"""
