"""Where the token-signing secret comes from, and the refusal to run production without one.

Production takes it from ``CITYOPS_SECRET_KEY`` only, and refuses short or well-known values.
Development keeps a random secret in the data directory (mode 600), so tokens survive a restart
and no two installations share one.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from spatial.errors import ConfigurationError
from spatial.private_file import private_once
from web.settings import ApiSettings

MIN_SECRET = 32
WELL_KNOWN = frozenset({"secret", "changeme", "change-me", "change_me", "cityops", "password", "development"})


def signing_secret(api: ApiSettings, data_dir: Path) -> str:
    """The secret to sign tokens with, or ConfigurationError saying what to set."""
    given = api.secret_key.get_secret_value() if api.secret_key else None
    if api.environment == "production":
        if given is None:
            raise ConfigurationError("production needs CITYOPS_SECRET_KEY (at least 32 random characters)")
        if len(given) < MIN_SECRET or given.lower() in WELL_KNOWN or len(set(given)) < 8:
            raise ConfigurationError("CITYOPS_SECRET_KEY is too short or a default; use 32+ random characters")
        return given
    if given is not None:
        return given
    return private_once(data_dir / "secret_key", lambda: secrets.token_urlsafe(48).encode()).decode().strip()
