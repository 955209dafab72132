"""The scenario registry's screen ``/scenarios``: city command adds and rewrites application scenarios.

Each scenario shows its field, owner, status and what feeds it, with its form folded beneath; a new one
is written in the form at the top. The categories are chosen from the platform's own (大类 › 小类), the
sources from the five channels, the owner from the city and its districts. Forms post here and get the
page back; a refusal is said in words and the form keeps what was typed; a scenario someone changed
meanwhile comes back as it is now (409), said so. The public page shows what this registry holds.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from command.users import User
from exchange import scenarios
from exchange.scenarios import SOURCES, ScenarioField, ScenarioIn, ScenarioStatus
from map_ui.incident_board import acted_then
from map_ui.pages import PageAccess, render
from spatial.errors import InvalidInputError
from web.access import PUBLIC
from web.deps import scoped_connection
from web.i18n import language_of

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Manager = Annotated[User, Depends(PageAccess("scenarios:manage"))]
Code = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]
OWNERS = "SELECT code, name FROM unit WHERE tier IN ('city', 'district') ORDER BY tier, code"
CATEGORIES = "SELECT code, name, name_en, major_name, major_name_en FROM category ORDER BY code"
LISTS = ("categories", "sources")


async def _page(request: Request, user: User) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        registry = await scenarios.listed(conn)
        owners = await (await conn.execute(OWNERS)).fetchall()
        categories = await (await conn.execute(CATEGORIES)).fetchall()
    english = language_of(request) == "en"
    return render(
        request,
        "scenarios.html",
        user,
        registry=registry,
        owners=owners,
        categories=categories,
        category_names={code: name_en if english else name for code, name, name_en, _, _ in categories},
        fields=list(ScenarioField),
        statuses=list(ScenarioStatus),
        sources=SOURCES,
    )


async def _draft(request: Request) -> tuple[ScenarioIn, int | None]:
    """The posted form as a draft (and the version it was read at), or InvalidInputError naming each field."""
    form = await request.form()
    values: dict[str, Any] = {k: v for k, v in form.items() if k not in (*LISTS, "version")}
    values |= {name: form.getlist(name) for name in LISTS}
    try:
        draft = ScenarioIn.model_validate(values)
        version = int(str(form["version"])) if form.get("version") else None
    except ValidationError as error:
        raise InvalidInputError(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        ) from None
    except ValueError:
        raise InvalidInputError("version must be a whole number; reload the page") from None
    return draft, version


@router.get("/scenarios", response_class=HTMLResponse)
async def scenario_page(request: Request, user: Manager) -> HTMLResponse:
    """The registry, with a form for a new scenario and one under each existing scenario."""
    return await _page(request, user)


@router.post("/scenarios", response_class=HTMLResponse)
async def add_from_form(request: Request, user: Manager) -> HTMLResponse:
    """Register the scenario the form describes."""

    async def add(conn: Any) -> None:
        draft, _ = await _draft(request)
        await scenarios.add(conn, draft, user.username)

    return await acted_then(request, add, lambda: _page(request, user))


@router.post("/scenarios/{code}", response_class=HTMLResponse)
async def change_from_form(request: Request, user: Manager, code: Code) -> HTMLResponse:
    """Rewrite the scenario at the version the form was read at."""

    async def change(conn: Any) -> None:
        draft, version = await _draft(request)
        if draft.code != code or version is None:
            raise InvalidInputError("the form lost its scenario's code or version; reload the page")
        await scenarios.change(conn, draft, version, user.username)

    return await acted_then(request, change, lambda: _page(request, user))
