"""The HTTP API over the domain packages: routes, access and scope, errors in words, sessions and tokens."""
