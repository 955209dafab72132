"""Every response carries the security headers; pages may reach this origin only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.security import content_policy


def test_every_response_carries_the_headers(client: TestClient) -> None:
    for path in ("/healthz", "/api/v1/units?tier=district&limit=1", "/map", "/api/v1/events/999999999"):
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
