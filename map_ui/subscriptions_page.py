"""The subscriptions screen ``/subscriptions``: a department's system's webhooks, as the person who runs it sees them.

Each subscription shows where it points, what it receives, how far it got (its cursor, what it delivered,
when), and — when its subscriber fails — the last error, the next try and the dead letters, each with a
button that sends its changes again. A new one is registered in the form at the top; its signing secret is
shown once, on the page that answers the form, with how to check a delivery. Stop, replay from a cursor
and retry post here and get the page back; a refusal (a private URL, an unknown type) is said in words.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from command.users import User
from exchange import webhooks
from exchange.changes import TYPES
from exchange.settings import ExchangeSettings
from exchange.webhooks import SubscriptionIn
from map_ui.incident_board import acted_then
from map_ui.pages import PageAccess, invalid_form, render
from web.access import PUBLIC
from web.deps import scoped_connection
from web.i18n import Catalogue, language_of

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Manager = Annotated[User, Depends(PageAccess("subscriptions:manage"))]
SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _page(request: Request, user: User, secret: dict[str, Any] | None = None) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        owned = await webhooks.owned(conn, user)
        letters = await webhooks.dead_letters_by_subscription(conn, user)
    return render(request, "subscriptions.html", user, owned=owned, letters=letters, types=TYPES, created=secret)


@router.get("/subscriptions", response_class=HTMLResponse)
async def subscriptions_page(request: Request, user: Manager) -> HTMLResponse:
    """The user's subscriptions with their state, and the form for a new one."""
    return await _page(request, user)


@router.post("/subscriptions", response_class=HTMLResponse)
async def subscribe_from_form(request: Request, user: Manager) -> HTMLResponse:
    """Register the webhook the form describes; the answer shows its secret this once."""
    form = await request.form()
    created: dict[str, Any] = {}

    async def subscribe(conn: Any) -> None:
        try:
            draft = SubscriptionIn.model_validate(
                {"name": form.get("name"), "url": form.get("url"), "types": form.getlist("types")}
            )
        except ValidationError as error:
            raise invalid_form(error, Catalogue(language_of(request)), "subscriptions") from None
        settings: ExchangeSettings = request.app.state.exchange_settings
        row, secret = await webhooks.subscribe(conn, user, draft, settings)
        created.update(row | {"secret": secret})

    return await acted_then(request, subscribe, lambda: _page(request, user, created))


@router.post("/subscriptions/{subscription_id}/stop", response_class=HTMLResponse)
async def stop_from_form(request: Request, user: Manager, subscription_id: SubscriptionId) -> HTMLResponse:
    """Stop deliveries (a replay starts them again)."""
    return await acted_then(
        request, lambda conn: webhooks.stop(conn, user, subscription_id), lambda: _page(request, user)
    )


@router.post("/subscriptions/{subscription_id}/replay", response_class=HTMLResponse)
async def replay_from_form(
    request: Request, user: Manager, subscription_id: SubscriptionId, cursor: Annotated[int, Form(ge=0)]
) -> HTMLResponse:
    """Deliver again everything after the cursor given."""
    return await acted_then(
        request, lambda conn: webhooks.replay(conn, user, subscription_id, cursor), lambda: _page(request, user)
    )


@router.post("/subscriptions/{subscription_id}/dead-letters/{letter_id}/retry", response_class=HTMLResponse)
async def retry_from_form(
    request: Request, user: Manager, subscription_id: SubscriptionId, letter_id: Annotated[int, Path(ge=1)]
) -> HTMLResponse:
    """Send a dead letter's changes again."""
    return await acted_then(
        request,
        lambda conn: webhooks.retry_dead_letter(conn, user, subscription_id, letter_id),
        lambda: _page(request, user),
    )
