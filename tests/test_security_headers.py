"""Every response carries the security headers; pages may reach this origin only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.security import content_policy
from cityops.app import create_app
from spatial.settings import StoreSettings
from tests.conftest import api_settings


def test_every_response_carries_the_headers(client: TestClient) -> None:
    for path in ("/healthz", "/api/v1/units?tier=district&limit=1", "/map", "/api/v1/cases/999999999"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY" and response.headers["referrer-policy"] == "no-referrer"
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_a_configured_basemap_is_the_only_other_origin() -> None:
    assert "img-src 'self' data: blob:;" in content_policy(None)
    policy = content_policy("https://{s}.tiles.nanjing.gov.cn/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://*.tiles.nanjing.gov.cn;" in policy
    assert "script-src 'self' 'unsafe-inline';" in policy  # tiles never become a script source


def test_an_error_nothing_handled_is_a_json_500_with_the_headers_and_request_id(
    nanjing_settings: StoreSettings,
) -> None:
    """Issue 19.3: an unhandled error was Starlette's plain-text 500, without the security headers or an id."""
    app = create_app(nanjing_settings, api_settings())

    @app.get("/fails-on-purpose")
    def fails() -> None:  # a defect stands in: nothing in the platform is known to raise one
        raise RuntimeError("a defect")

    with TestClient(app, raise_server_exceptions=False) as client:
        for path, headers in (("/fails-on-purpose", {}), ("/fails-on-purpose?lang=en", {"X-Request-ID": "abc123"})):
            response = client.get(path, headers=headers)
            assert response.status_code == 500 and response.headers["content-type"] == "application/json"
            body, request_id = response.json(), response.headers["x-request-id"]
            assert body["code"] == "internal" and body["request_id"] == request_id and request_id in body["detail"]
            assert (
                response.headers["x-content-type-options"] == "nosniff"
                and "content-security-policy" in response.headers
            )
        assert request_id == "abc123" and body["message"].startswith("Internal error")
