"""Staff users, their roles and API keys: create, list, disable, authenticate.

A user acts inside one unit's subtree; their permissions are the union of their roles'. The
password is kept as an Argon2id hash (argon2-cffi's defaults, RFC 9106), and a failed login
costs the same time whether the user exists or not, so usernames cannot be probed. API keys
are ``<prefix>.<secret>``: the prefix finds the row, the SHA-256 of the secret is compared in
constant time; the secret itself is shown once, at creation, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, text

from spatial.audit import record
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError

CHANGES = "cityops_users"  # NOTIFY channel: a user's roles, state or keys changed (API caches drop them)
HASHER = PasswordHasher()
DUMMY_HASH = HASHER.hash("cityops: equal work for unknown users")
MIN_PASSWORD = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")  # the same rule as the table's check


@dataclass(frozen=True)
class User:
    """Who is acting: their unit (jurisdiction root), department, roles and permissions."""

    id: int
    username: str
    display_name: str
    unit_id: int
    unit_code: str
    unit_tier: str
    unit_depth: int  # the unit's position in the chain of every unit below it (city 1, district 2 …)
    department: str | None
    roles: tuple[str, ...]
    permissions: frozenset[str]
    disabled: bool
    force_id: int | None = None  # the force this user answers for (a crew: several users, one force)

    def may(self, permission: str) -> bool:
        """Whether one of the user's roles grants ``permission``."""
        return permission in self.permissions


USER_SQL = """
SELECT u.id, u.username, u.display_name, unit.id, unit.code, unit.tier::text,
       cardinality(unit.ancestors) + 1, u.department,
       coalesce(array_agg(DISTINCT ur.role ORDER BY ur.role) FILTER (WHERE ur.role IS NOT NULL), ARRAY[]::text[]),
       coalesce(array_agg(DISTINCT p) FILTER (WHERE p IS NOT NULL), ARRAY[]::text[]),
       u.disabled_at IS NOT NULL, u.force_id, u.password_hash
FROM app_user u JOIN unit ON unit.id = u.unit_id
LEFT JOIN user_role ur ON ur.user_id = u.id LEFT JOIN role r ON r.name = ur.role
LEFT JOIN LATERAL unnest(r.permissions) AS p ON true
WHERE {where}
GROUP BY u.id, unit.id
ORDER BY u.username
"""


def _user(row: tuple[Any, ...]) -> User:
    uid, username, name, unit_id, unit_code, tier, depth, department, roles, permissions, disabled, force_id, _ = row
    return User(
        uid,
        username,
        name,
        unit_id,
        unit_code,
        tier,
        depth,
        department,
        tuple(roles),
        frozenset(permissions),
        disabled,
        force_id,
    )


def _known_roles(conn: Connection, roles: list[str]) -> None:
    known = {row[0] for row in conn.execute(text("SELECT name FROM role"))}
    unknown = sorted(set(roles) - known)
    if unknown:
        raise InvalidInputError(f"unknown role(s) {unknown}; roles: {', '.join(sorted(known))}")


def _announce(conn: Connection, username: str) -> None:
    """Tell every API process (at commit) that what it cached about this user is stale."""
    conn.execute(text("SELECT pg_notify(:channel, :u)"), {"channel": CHANGES, "u": username})


def hash_password(password: str) -> str:
    """Argon2id hash of a password long enough to resist guessing."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"a password needs at least {MIN_PASSWORD} characters")
    return HASHER.hash(password)


def create_user(
    conn: Connection,
    username: str,
    *,
    unit_code: str,
    roles: list[str],
    password: str | None,
    actor: str,
    display_name: str | None = None,
    department: str | None = None,
    force_code: str | None = None,
) -> User:
    """A new user in ``unit_code`` with ``roles`` (an integration may have no password, only keys),
    standing behind the force ``force_code`` when given (see ``force_of``)."""
    if not USERNAME.match(username):
        raise InvalidInputError(f"username {username!r}: 2–64 lower-case letters, digits, '.', '_' or '-'")
    _known_roles(conn, roles)
    unit = conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": unit_code}).scalar()
    if unit is None:
        raise NotFoundError(f"no unit {unit_code!r}; a user belongs to a unit of the hierarchy")
    if conn.execute(text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}).scalar():
        raise ConflictError(f"user {username!r} exists already")
    force = None if force_code is None else force_of(conn, force_code, unit_code)
    conn.execute(
        text(
            "INSERT INTO app_user (username, display_name, unit_id, department, password_hash, force_id) "
            "VALUES (:u, :n, :unit, :d, :h, :f)"
        ),
        {
            "u": username,
            "n": display_name or username,
            "unit": unit,
            "d": department,
            "h": hash_password(password) if password is not None else None,
            "f": force,
        },
    )
    record(conn, actor, "user.created", username, unit=unit_code, department=department, force=force_code)
    set_roles(conn, username, roles, actor=actor)
    return get_user(conn, username)


def force_of(conn: Connection, force_code: str, unit_code: str) -> int:
    """The id of the force a new user of ``unit_code`` will answer for.

    The user sits in the force's own unit: row-level security then shows them their force and its
    assignments — and, in a unit above it, would show them every force of that subtree as well.
    """
    row = conn.execute(
        text("SELECT f.id, u.code FROM force f JOIN unit u ON u.id = f.unit_id WHERE f.code = :c"), {"c": force_code}
    ).first()
    if row is None:
        raise NotFoundError(f"no force {force_code!r}; its code is the directory's (cityops load forces …)")
    if row[1] != unit_code:
        raise InvalidInputError(
            f"force {force_code} belongs to unit {row[1]}: give the user --unit {row[1]}, the "
            "unit of the force they answer for"
        )
    return int(row[0])


def get_user(conn: Connection, username: str) -> User:
    """The user, with roles and permissions resolved."""
    row = conn.execute(text(USER_SQL.format(where="u.username = :u")), {"u": username}).first()
    if row is None:
        raise NotFoundError(f"no user {username!r}")
    return _user(tuple(row))


def list_users(conn: Connection, within: int | None = None) -> list[User]:
    """Every user by name — or those whose unit lies in unit ``within``'s subtree (an administrator's reach)."""
    if within is None:
        return [_user(tuple(row)) for row in conn.execute(text(USER_SQL.format(where="true")))]
    where = "unit.ancestors || unit.id @> ARRAY[CAST(:root AS bigint)]"
    return [_user(tuple(row)) for row in conn.execute(text(USER_SQL.format(where=where)), {"root": within})]


def unit_within(conn: Connection, unit_code: str, root_id: int) -> bool:
    """Whether the unit is ``root_id`` or lies below it."""
    return bool(
        conn.execute(
            text("SELECT ancestors || id @> ARRAY[CAST(:root AS bigint)] FROM unit WHERE code = :c"),
            {"c": unit_code, "root": root_id},
        ).scalar()
    )


def set_roles(conn: Connection, username: str, roles: list[str], *, actor: str) -> None:
    """Replace the user's roles."""
    _known_roles(conn, roles)
    uid = conn.execute(text("SELECT id FROM app_user WHERE username = :u"), {"u": username}).scalar()
    if uid is None:
        raise NotFoundError(f"no user {username!r}")
    conn.execute(text("DELETE FROM user_role WHERE user_id = :id"), {"id": uid})
    for role in sorted(set(roles)):
        conn.execute(text("INSERT INTO user_role (user_id, role) VALUES (:id, :r)"), {"id": uid, "r": role})
    record(conn, actor, "user.roles", username, roles=sorted(set(roles)))
    _announce(conn, username)


def disable_user(conn: Connection, username: str, *, actor: str) -> None:
    """The user can no longer log in or use their keys (kept for the audit trail, never deleted).

    Never one's own account: an administrator locking themselves out may leave the unit with none.
    """
    if actor == username:
        raise ForbiddenError("you cannot disable your own account; another administrator can")
    done = conn.execute(
        text("UPDATE app_user SET disabled_at = coalesce(disabled_at, now()) WHERE username = :u"), {"u": username}
    )
    if done.rowcount == 0:
        raise NotFoundError(f"no user {username!r}")
    conn.execute(
        text(
            "UPDATE api_key SET revoked_at = coalesce(revoked_at, now()) WHERE user_id = "
            "(SELECT id FROM app_user WHERE username = :u)"
        ),
        {"u": username},
    )
    record(conn, actor, "user.disabled", username)
    _announce(conn, username)


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The user if the password is theirs and they are active; the same work is done either way."""
    row = conn.execute(text(USER_SQL.format(where="u.username = :u")), {"u": username}).first()
    stored = row[-1] if row is not None and row[-1] else DUMMY_HASH
    try:
        HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError):
        return None
    if row is None or not row[-1] or row[10]:
        return None
    return _user(tuple(row))


def create_api_key(conn: Connection, username: str, name: str, *, actor: str) -> str:
    """A new key for the user; the returned ``prefix.secret`` is the only time the secret exists."""
    user = get_user(conn, username)
    if user.disabled:
        raise ConflictError(f"user {username!r} is disabled")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    conn.execute(
        text("INSERT INTO api_key (prefix, secret_sha256, user_id, name) VALUES (:p, :s, :u, :n)"),
        {"p": prefix, "s": hashlib.sha256(secret.encode()).hexdigest(), "u": user.id, "n": name},
    )
    record(conn, actor, "api_key.created", username, prefix=prefix, name=name)
    return f"{prefix}.{secret}"


def revoke_api_key(conn: Connection, username: str, prefix: str, *, actor: str) -> None:
    """The key stops working at once (kept, revoked, for the record)."""
    done = conn.execute(
        text(
            "UPDATE api_key SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = :p "
            "AND user_id = (SELECT id FROM app_user WHERE username = :u)"
        ),
        {"p": prefix, "u": username},
    )
    if done.rowcount == 0:
        raise NotFoundError(f"user {username!r} has no API key {prefix!r}")
    record(conn, actor, "api_key.revoked", username, prefix=prefix)
    _announce(conn, username)


def user_for_key(conn: Connection, key: str) -> User | None:
    """The active user behind an unrevoked API key, or None."""
    prefix, _, secret = key.partition(".")
    row = conn.execute(
        text(
            "SELECT k.secret_sha256, u.username FROM api_key k JOIN app_user u ON u.id = k.user_id "
            "WHERE k.prefix = :p AND k.revoked_at IS NULL AND u.disabled_at IS NULL"
        ),
        {"p": prefix},
    ).first()
    digest = hashlib.sha256(secret.encode()).hexdigest()
    if row is None or not hmac.compare_digest(digest, row[0]):
        return None
    return get_user(conn, row[1])


def list_roles(conn: Connection) -> list[tuple[str, str, list[str]]]:
    """Every role with its description and permissions, by name."""
    rows = conn.execute(text("SELECT name, description, permissions FROM role ORDER BY name"))
    return [(name, description, list(permissions)) for name, description, permissions in rows]


def key_holder(
    engine: Engine, name: str, roles: list[str], unit: str, *, actor: str, purpose: str, department: str | None = None
) -> dict[str, str]:
    """Headers of a program calling the API as ``name`` (the user is kept between runs; a fresh key each run)."""
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM app_user WHERE username = :u"), {"u": name}).scalar() is None:
            create_user(conn, name, unit_code=unit, roles=roles, password=None, actor=actor, department=department)
        return {"X-API-Key": create_api_key(conn, name, purpose, actor=actor)}
