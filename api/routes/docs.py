"""The interactive API documentation, served with the platform's own copy of Swagger UI.

FastAPI's default page loads Swagger UI from a CDN, which an offline government network cannot
reach (and the content policy forbids); here the assets come from ``/static/vendor``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from web.access import PUBLIC

SWAGGER = "/static/vendor/swagger-ui-dist"
router = APIRouter(tags=["docs"], dependencies=[Depends(PUBLIC)], include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    """Swagger UI for ``/openapi.json``, tags folded; "Authorize" signs in with the password flow."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="cityops API",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        oauth2_redirect_url=None,
        # the operations folded under their tags, with a filter box: 139 operations at once are too long a
        # page to read (and Swagger UI stopped drawing them partway, past about 125)
        swagger_ui_parameters={"docExpansion": "none", "filter": True},
    )
