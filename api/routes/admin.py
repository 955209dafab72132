"""User administration and the audit trail, over HTTP (the CLI's `cityops user` and `cityops audit`).

An administrator reaches the users of their own unit's subtree only: a district administrator
manages the district's staff, never another district's; a user outside that reach is "not found".
Every change is audited by the functions it calls; key secrets are shown once and never stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, text

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.schemas import UnitOfUser
from command.users import (
    USERNAME,
    User,
    create_api_key,
    create_user,
    disable_user,
    get_user,
    list_users,
    revoke_api_key,
    set_roles,
    unit_within,
)
from spatial.audit import verify
from spatial.errors import ForbiddenError, NotFoundError
from web.access import Access
from web.deps import db_call, db_write
from web.services import UsersDep

router = APIRouter(prefix="/api/v1", tags=["admin"])
Admin = Annotated[User, Depends(Access("users:admin"))]
Auditor = Annotated[User, Depends(Access("audit:read"))]
Username = Annotated[str, Path(pattern=USERNAME.pattern, description="A user's login name")]
AUDIT_SQL = """
SELECT id, at, actor, action, subject, detail, hash FROM audit_log
WHERE (CAST(:action AS text) IS NULL OR action = :action) AND (CAST(:before AS bigint) IS NULL OR id < :before)
ORDER BY id DESC LIMIT :limit
"""


class UserIn(RequestBody):
    """A new staff user or integration."""

    model_config = ConfigDict(
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"username": "zhang.wei", "unit": "320102", "roles": ["district"], "display_name": "张伟"}]
        },
    )
    username: str = Field(pattern=USERNAME.pattern)
    unit: str = Field(pattern=r"^[0-9]{6,19}$", description="Code of the unit the user belongs to")
    roles: list[str] = Field(min_length=1, max_length=12)
    password: str | None = Field(default=None, min_length=12, max_length=200, description="None: keys only")
    display_name: str | None = Field(default=None, max_length=100)
    department: str | None = Field(default=None, max_length=100)


class RolesIn(RequestBody):
    """The roles a user has from now on."""

    roles: list[str] = Field(min_length=0, max_length=12)


class KeyIn(RequestBody):
    """What a new API key is for."""

    model_config = ConfigDict(str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=100)


class UserOut(BaseModel):
    """A user as administrators see them (never a password or key)."""

    username: str
    display_name: str | None
    unit: UnitOfUser
    department: str | None
    roles: list[str]
    disabled: bool


class Users(BaseModel):
    """Every user the administrator's jurisdiction holds."""

    users: list[UserOut]


class Disabled(BaseModel):
    """A user disabled: their keys and logins stop at once."""

    username: str
    disabled: bool


class KeyOut(BaseModel):
    """A new API key: shown this once, kept only as a hash."""

    username: str
    name: str
    key: str


class KeyRevoked(BaseModel):
    """An API key revoked."""

    username: str
    prefix: str
    revoked: bool


class AuditEntry(BaseModel):
    """One entry of the hash-chained audit log."""

    id: str
    at: str
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any] | None
    hash: str | None = Field(description="Its link in the chain (null until sealed, within a second)")


class AuditEntries(BaseModel):
    """Audit entries, newest first."""

    entries: list[AuditEntry]


class AuditVerdict(BaseModel):
    """The hash chain recomputed: the head is what to keep elsewhere and compare next time."""

    intact: bool
    entries: int
    head: str | None
    first_bad: int | None
    reason: str | None


def _as_dict(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "unit": {"code": user.unit_code, "tier": user.unit_tier},
        "department": user.department,
        "roles": list(user.roles),
        "disabled": user.disabled,
    }


def _reachable(conn: Connection, admin: User, username: str) -> User:
    """The user, when the administrator's reach includes them; otherwise "not found" (no probing)."""
    user = get_user(conn, username)
    if not unit_within(conn, user.unit_code, admin.unit_id):
        raise NotFoundError(f"no user {username!r}")
    return user


@router.get("/users", response_class=FastJSONResponse, response_model=Users)
async def users(request: Request, admin: Admin) -> FastJSONResponse:
    """The users of the administrator's subtree."""
    found = await db_call(request, list_users, admin.unit_id)
    return FastJSONResponse({"users": [_as_dict(u) for u in found]})


@router.post("/users", response_class=FastJSONResponse, status_code=201, response_model=UserOut)
async def add_user(request: Request, admin: Admin, body: UserIn) -> FastJSONResponse:
    """Create a user in a unit of the administrator's subtree."""

    def work(conn: Connection) -> User:
        if not unit_within(conn, body.unit, admin.unit_id):
            raise ForbiddenError(f"unit {body.unit} is outside your reach (unit {admin.unit_code})")
        return create_user(
            conn,
            body.username,
            unit_code=body.unit,
            roles=body.roles,
            password=body.password,
            display_name=body.display_name,
            department=body.department,
            actor=admin.username,
        )

    return FastJSONResponse(_as_dict(await db_write(request, work)), status_code=201)


@router.put("/users/{username}/roles", response_class=FastJSONResponse, response_model=UserOut)
async def change_roles(
    request: Request, admin: Admin, username: Username, body: RolesIn, users: UsersDep
) -> FastJSONResponse:
    """Replace a user's roles."""

    def work(conn: Connection) -> User:
        _reachable(conn, admin, username)
        set_roles(conn, username, body.roles, actor=admin.username)
        return get_user(conn, username)

    changed = await db_write(request, work)
    users.forget()
    return FastJSONResponse(_as_dict(changed))


@router.post("/users/{username}/disable", response_class=FastJSONResponse, response_model=Disabled)
async def disable(request: Request, admin: Admin, username: Username, users: UsersDep) -> FastJSONResponse:
    """Disable a user and revoke their keys (users are kept: the audit trail names them)."""

    def work(conn: Connection) -> None:
        _reachable(conn, admin, username)
        disable_user(conn, username, actor=admin.username)

    await db_write(request, work)
    users.forget()
    return FastJSONResponse({"username": username, "disabled": True})


@router.post("/users/{username}/keys", response_class=FastJSONResponse, status_code=201, response_model=KeyOut)
async def add_key(request: Request, admin: Admin, username: Username, body: KeyIn) -> FastJSONResponse:
    """A new API key; the answer is the only time its secret exists."""

    def work(conn: Connection) -> str:
        _reachable(conn, admin, username)
        return create_api_key(conn, username, body.name, actor=admin.username)

    key = await db_write(request, work)
    return FastJSONResponse(
        {"username": username, "name": body.name, "key": key}, status_code=201, headers={"Cache-Control": "no-store"}
    )


@router.post("/users/{username}/keys/{prefix}/revoke", response_class=FastJSONResponse, response_model=KeyRevoked)
async def revoke_key(
    request: Request,
    admin: Admin,
    username: Username,
    prefix: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")],
    users: UsersDep,
) -> FastJSONResponse:
    """Revoke one API key at once."""

    def work(conn: Connection) -> None:
        _reachable(conn, admin, username)
        revoke_api_key(conn, username, prefix, actor=admin.username)

    await db_write(request, work)
    users.forget()
    return FastJSONResponse({"username": username, "prefix": prefix, "revoked": True})


@router.get("/audit", response_class=FastJSONResponse, response_model=AuditEntries)
async def audit_entries(
    request: Request,
    auditor: Auditor,
    action: Annotated[str | None, Query(pattern=r"^[a-z_.]{1,40}$")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FastJSONResponse:
    """Audit entries, newest first."""

    def work(conn: Connection) -> list[dict[str, object]]:
        rows = conn.execute(text(AUDIT_SQL), {"action": action, "before": before_id, "limit": limit})
        return [
            {
                "id": str(i),
                "at": at.isoformat(),
                "actor": actor,
                "action": act,
                "subject": subject,
                "detail": detail,
                "hash": digest,
            }
            for i, at, actor, act, subject, detail, digest in rows
        ]

    return FastJSONResponse({"entries": await db_call(request, work)})


@router.get("/audit/verify", response_class=FastJSONResponse, response_model=AuditVerdict)
async def audit_verify(request: Request, auditor: Auditor) -> FastJSONResponse:
    """Recompute the hash chain; the head is what to keep elsewhere and compare next time."""
    verdict = await db_call(request, verify)
    return FastJSONResponse(
        {
            "intact": verdict.intact,
            "entries": verdict.entries,
            "head": verdict.head,
            "first_bad": verdict.first_bad,
            "reason": verdict.reason,
        }
    )
