"""The authorisation matrix: every endpoint × every role (and nobody) × a resource inside and outside
the caller's jurisdiction → the status the rules say.

The endpoints come from the app's route table and each one's rule from its own dependency, so a
new endpoint without a rule, or without a way to call it here, fails this test. What each role
may do comes from the ``role`` table (data), and whom it reaches from the user's unit.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import h3
import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from api.openapi import api_routes
from command.users import create_api_key, create_user
from tests.conftest import Caller, add_force, add_sensor, void_open_cases
from tests.test_warnings import cap

PASSWORD = "matrix password 1234"
ROLE_UNIT = {  # where each role's test user sits, relative to the "inside" place
    "grid_worker": "grid",
    "community": "community",
    "street": "street",
    "district": "district",
    "city_commander": "city",
    "dispatcher": "district",
    "department_handler": "district",
    "checker": "street",
    "planner": "district",
    "auditor": "city",
    "admin": "district",
    "integration": "street",
    "tracker": "street",
    "field_force": "grid",
    "wall": "city",
    "sensor_gateway": "district",
    "warning_feed": "city",
}
THIRD_DISTRICT = "320105"  # 建邺区: the other side of a borrowing, neither inside nor outside
# incident titles are shown on the Chinese wall, which the screen test holds to Chinese words only
PLACE_WORDS = {"inside": "辖区内", "outside": "辖区外"}
DEPARTMENT = "水务局"  # category 010101 (上水井盖) goes to 水务局 and 供水公司
CATEGORY, OTHER_CATEGORY = "010101", "020106"
CITY_BOX = "118.3,31.2,119.3,32.7"


# ---- the route table -----------------------------------------------------------------------------
def rules(dependant: Dependant) -> set[str]:
    """The access rules among a route's dependencies, however deep."""
    found = {dependant.call.rule} if hasattr(dependant.call, "rule") else set()
    for sub in dependant.dependencies:
        found |= rules(sub)
    return found


def route_table(client: TestClient) -> dict[tuple[str, str], str]:
    """(method, path) → rule, for every endpoint; a route with no rule or two fails here."""
    table = {}
    for path, route in api_routes(client.app.routes):  # type: ignore[attr-defined]
        found = rules(route.dependant)
        assert len(found) == 1, f"{sorted(route.methods)} {path} declares no access rule or several: {found}"
        rule = found.pop()
        for method in route.methods:
            table[(method, path)] = rule
    return table


# ---- places, people, resources --------------------------------------------------------------------
@dataclass
class Place:
    """A grid, its chain of unit codes, a point inside it, and resources created there."""

    name: str
    lon: float
    lat: float
    chain: dict[str, str]
    grid_id: int
    case_id: str = ""
    report_id: str = ""
    media: str = ""
    token: str = ""
    target_user: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def body(self, category: str = CATEGORY, description: str = "井盖缺失") -> dict[str, object]:
        """A report at this place (with the reporter's contact, which outputs must mask)."""
        return {
            "lon": self.lon,
            "lat": self.lat,
            "category": category,
            "source": "grid_worker",
            "description": description,
            "reporter": {"name": "李四", "phone": "13900001111"},
        }


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (seed % 256, 40, 90)).save(out, format="PNG")
    return out.getvalue()


def _place(conn: Any, name: str, district: str, offset: int) -> Place:
    lon, lat, grid_id = conn.execute(
        text(
            "SELECT ST_X(p), ST_Y(p), id FROM (SELECT code, id, ST_PointOnSurface(geom) AS p FROM unit "
            "WHERE tier = 'grid' AND code LIKE :d ORDER BY code OFFSET :o LIMIT 1) g"
        ),
        {"d": f"{district}%", "o": offset},
    ).one()
    chain = dict(
        conn.execute(
            text(
                "SELECT a.tier::text, a.code FROM unit g JOIN unit a ON a.id = ANY(g.ancestors || g.id) WHERE g.id = :g"
            ),
            {"g": grid_id},
        ).all()
    )
    return Place(name, lon, lat, chain, grid_id)


def fresh_cases(client: TestClient, engine: Engine, place: Place) -> tuple[str, str, str]:
    """A case with two reports and a second case, at ``place`` (earlier open cases there voided first)."""
    void_open_cases(engine, "grid_id = :g", {"g": place.grid_id})
    first = client.post("/api/v1/reports", json=place.body()).json()
    client.post("/api/v1/reports", json=place.body(description="井盖丢了"))
    other = client.post("/api/v1/reports", json=place.body(OTHER_CATEGORY, "乱堆物")).json()
    return first["case_id"], first["report_id"], other["case_id"]


def _force(nanjing: Engine, place: Place) -> tuple[int, str]:
    """An available, freshly tracked force of the place's street, standing at the place."""
    return add_force(nanjing, place.chain["street"], ["drainage"], at=(place.lon, place.lat))


def _third_force(nanjing: Engine, place: Place) -> int:
    """A force of a third district, near the place: what the place's unit would borrow."""
    return add_force(nanjing, THIRD_DISTRICT, ["drainage"], at=(place.lon + 0.001, place.lat))[0]


def _assignment(nanjing: Engine, case_id: str, force_id: int) -> int:
    with nanjing.begin() as conn:
        conn.execute(text("UPDATE force SET status = 'assigned' WHERE id = :f"), {"f": force_id})
        return conn.execute(
            text(
                "INSERT INTO assignment (case_id, force_id, assigned_by, accept_by) "
                "VALUES (:e, :f, 'tests', now() + interval '1 hour') RETURNING id"
            ),
            {"e": int(case_id), "f": force_id},
        ).scalar_one()


def _alarm(nanjing: Engine, place: Place) -> str:
    """A raised area alarm at the place's sensor (a fresh area cell each time: alarms are one per area)."""
    with nanjing.begin() as conn:
        return str(
            conn.execute(
                text(
                    "INSERT INTO sensor_alarm (rule_id, area_cell, kind, geom, units, value, raised_at) "
                    "SELECT r.id, :cell, r.kind, s.geom, s.units, 3, now() FROM sensor_rule r, sensor s "
                    "WHERE r.kind = 'water_level' AND r.rule = 'area' AND r.sensor_id IS NULL AND s.code = :code "
                    "RETURNING id"
                ),
                {"cell": uuid.uuid4().int >> 72, "code": place.extra["sensor"]},
            ).scalar_one()
        )


def _request(nanjing: Engine, case_id: str, force_id: int) -> int:
    with nanjing.begin() as conn:
        return conn.execute(
            text("INSERT INTO force_request (case_id, force_id, requested_by) VALUES (:e, :f, 'tests') RETURNING id"),
            {"e": int(case_id), "f": force_id},
        ).scalar_one()


def _incident(client: TestClient, nanjing: Engine, place: Place) -> str:
    """An incident round the place (a 30 m perimeter reaches no other place) with a resource request
    offered by the place's district; the inside one has summoned the matrix's department."""
    if "resource_incident" not in place.extra:
        here = {"lon": place.lon, "lat": place.lat}
        body = {"title": f"矩阵 {PLACE_WORDS[place.name]}", "class_code": "accident.fire", "level": "IV", **here}
        incident = client.post(
            "/api/v1/incidents", json={**body, "areas": [{"kind": "perimeter", "buffer_m": 30, **here}]}
        )
        place.extra["resource_incident"] = str(incident.json()["id"])
        if place.name == "inside":
            with nanjing.begin() as conn:
                conn.execute(
                    text("UPDATE incident SET departments = ARRAY[:d] WHERE id = :i"),
                    {"d": DEPARTMENT, "i": int(place.extra["resource_incident"])},
                )
        place.extra["resource_request"] = _offered(nanjing, place)
    return place.extra["resource_incident"]


def _offered(nanjing: Engine, place: Place) -> str:
    """A request of the place's incident for 2 pumps, offered by the place's district: the command accepts next."""
    with nanjing.begin() as conn:
        return str(
            conn.execute(
                text(
                    "INSERT INTO resource_request (incident_id, resource_type, quantity, offered, to_unit_id, "
                    "to_units, needed_by, needed_at, state, requested_by) "
                    "SELECT :i, 'pump', 2, 2, u.id, u.ancestors || u.id, now() + interval '2 hours', "
                    "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'offered', 'tests' "
                    "FROM unit u WHERE u.code = :d RETURNING id"
                ),
                {
                    "i": int(place.extra["resource_incident"]),
                    "lon": place.lon,
                    "lat": place.lat,
                    "d": place.chain["district"],
                },
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def places(client: TestClient, nanjing: Engine) -> dict[str, Place]:
    """Inside: a grid of 玄武区 (where the scoped users sit); outside: a grid of 秦淮区. Resources at each."""
    with nanjing.connect() as conn:
        inside, outside = _place(conn, "inside", "320102", 40), _place(conn, "outside", "320104", 40)
        third = _place(conn, "third", THIRD_DISTRICT, 40)
    third_case = fresh_cases(client, nanjing, third)[0]
    for seed, place in enumerate((inside, outside)):
        place.case_id, place.report_id, place.extra["other_case"] = fresh_cases(client, nanjing, place)
        upload = client.post(
            "/api/v1/reports",
            data={"report": json.dumps(place.body(description="有照片"))},
            files=[("media", ("p.png", _png(seed), "image/png"))],
        )
        assert upload.status_code == 201, upload.text
        place.media = client.get(f"/api/v1/reports/{upload.json()['report_id']}").json()["media"][0]["sha256"]
        place.token = upload.json()["token"]
        place.target_user = f"target-{place.name}-{uuid.uuid4().hex[:6]}"
        with nanjing.begin() as conn:
            create_user(
                conn,
                place.target_user,
                unit_code=place.chain["street"],
                roles=["checker"],
                password=None,
                actor="tests",
            )
        force_id, place.extra["force_code"] = _force(nanjing, place)
        place.extra["force"] = str(force_id)
        place.extra["third_case"] = third_case
        place.extra["assignment"] = str(_assignment(nanjing, place.case_id, _force(nanjing, place)[0]))
        place.extra["request_in"] = str(_request(nanjing, place.case_id, _third_force(nanjing, place)))
        place.extra["request_out"] = str(_request(nanjing, third_case, _force(nanjing, place)[0]))
        place.extra["sensor"] = add_sensor(nanjing, "water_level", (place.lon, place.lat))
        place.extra["alarm"] = _alarm(nanjing, place)
    return {"inside": inside, "outside": outside}


@pytest.fixture(scope="module")
def people(caller: Caller, places: dict[str, Place], nanjing: Engine) -> dict[str | None, dict[str, str]]:
    """Headers per role (None: nobody signed in), each user at their role's unit of the inside place."""
    chain = places["inside"].chain
    headers: dict[str | None, dict[str, str]] = {None: {"X-API-Key": ""}}
    for role, tier in ROLE_UNIT.items():
        department = DEPARTMENT if role == "department_handler" else None
        headers[role] = caller([role], chain[tier], department)
    return headers


@pytest.fixture(scope="module")
def permissions(nanjing: Engine) -> dict[str, set[str]]:
    with nanjing.connect() as conn:
        return {name: set(perms) for name, perms in conn.execute(text("SELECT name, permissions FROM role"))}


# ---- how to call each endpoint --------------------------------------------------------------------
Request = Callable[[Place, dict[str, Any]], tuple[str, str, dict[str, Any]]]


@dataclass(frozen=True)
class Call:
    """How to call one endpoint for a place, what success is, and what being outside the caller's reach does.

    ``outside``: "none" (no jurisdiction involved), "hidden" (404, as if absent), "refused" (403),
    "filtered" (success, but the place's resource is left out of the answer), "unknown" (422: a batch
    naming what the caller cannot see is refused by index, as if it did not exist).
    """

    request: Request
    success: int = 200
    outside: str = "none"
    present: Callable[[httpx.Response, Place], bool] | None = None
    fresh: bool = False
    as_rule: str | None = None  # an endpoint whose rule is checked inside it (Open311 api_key)
    anonymous: int = 401
    city: int | None = None  # what a city-wide caller gets instead of success (nothing is outside the city)


def _login(client: TestClient, nanjing: Engine) -> dict[str, Any]:
    name = f"login-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["planner"], password=PASSWORD, actor="tests")
    return client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD}).json()


def _fresh_target(place: Place, nanjing: Engine) -> str:
    name = f"t-{place.name}-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=place.chain["street"], roles=["checker"], password=None, actor="tests")
        place.extra["prefix"] = create_api_key(conn, name, "x", actor="tests").split(".")[0]
    return name


def calls(client: TestClient, nanjing: Engine) -> dict[tuple[str, str], Call]:
    """One entry per endpoint; ``ctx`` carries fresh resources for endpoints that consume them."""

    def merge(p: Place, ctx: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        into, _, other = fresh_cases(client, nanjing, p) if ctx["fresh"] else (p.case_id, "", p.extra["other_case"])
        return "POST", f"/api/v1/cases/{into}/merge", {"json": {"case_id": int(other), "reason": "same hole"}}

    def split(p: Place, ctx: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        report = fresh_cases(client, nanjing, p)[1] if ctx["fresh"] else p.report_id
        return "POST", f"/api/v1/reports/{report}/split", {"json": {"reason": "another hole"}}

    def user_target(p: Place, ctx: dict[str, Any]) -> str:
        """A user at the place, fresh when the call will consume it (the fresh one brings a key: {prefix})."""
        if ctx["fresh"]:
            return _fresh_target(p, nanjing)
        p.extra.setdefault("prefix", "0" * 12)
        return p.target_user

    def listed(key: str) -> Callable[[httpx.Response, Place], bool]:
        return lambda response, p: any(item["id"] == getattr(p, key) for item in response.json()["items"])

    def box(p: Place) -> str:
        return f"{p.lon - 0.001},{p.lat - 0.001},{p.lon + 0.001},{p.lat + 0.001}"

    def get(url: Callable[[Place], str], params: Callable[[Place], dict[str, Any]] | None = None) -> Request:
        return lambda p, c: ("GET", url(p), {"params": params(p)} if params else {})

    def post(url: Callable[[Place], str], **body: Callable[[Place], object]) -> Request:
        return lambda p, c: ("POST", url(p), {k: make(p) for k, make in body.items()})

    def as_user(verb: str, suffix: str, body: dict[str, Any] | None = None) -> Request:
        return lambda p, c: (
            verb,
            f"/api/v1/users/{user_target(p, c)}{suffix.format(**p.extra)}",
            {"json": body} if body else {},
        )

    def open311_post(p: Place, ctx: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        form = {"api_key": ctx["key"], "service_code": CATEGORY, "lat": p.lat, "long": p.lon, "description": "井盖"}
        return "POST", "/open311/v2/requests.json", {"data": form}

    def new_user(p: Place) -> dict[str, object]:
        return {"username": f"new-{uuid.uuid4().hex[:10]}", "unit": p.chain["street"], "roles": ["checker"]}

    def fixed(url: str) -> Request:
        return get(lambda p: url)

    def around(p: Place) -> dict[str, Any]:
        return {"bbox": f"{p.lon - 0.001},{p.lat - 0.001},{p.lon + 0.001},{p.lat + 0.001}", "limit": 1000}

    def force(p: Place, ctx: dict[str, Any]) -> str:
        """The place's force, or a fresh one when the call will book or move it."""
        return str(_force(nanjing, p)[0]) if ctx["fresh"] else p.extra["force"]

    def assignment(p: Place, ctx: dict[str, Any]) -> str:
        return str(_assignment(nanjing, p.case_id, _force(nanjing, p)[0])) if ctx["fresh"] else p.extra["assignment"]

    def incoming(p: Place, ctx: dict[str, Any]) -> str:
        """A request for one of the place's forces, from a case elsewhere (the owner decides)."""
        if ctx["fresh"]:
            return str(_request(nanjing, p.extra["third_case"], _force(nanjing, p)[0]))
        return p.extra["request_out"]

    def outgoing(p: Place, ctx: dict[str, Any]) -> str:
        """A request from the place's case for another district's force (the requester cancels)."""
        return str(_request(nanjing, p.case_id, _third_force(nanjing, p))) if ctx["fresh"] else p.extra["request_in"]

    def reported(p: Place, ctx: dict[str, Any]) -> str:
        """A case still in state reported (fresh when the call will accept it)."""
        return fresh_cases(client, nanjing, p)[0] if ctx["fresh"] else p.case_id

    def fix_here(p: Place) -> dict[str, Any]:
        at = datetime.now(UTC).isoformat()
        return {"fixes": [{"id": p.extra["force_code"], "lon": p.lon, "lat": p.lat, "time": at}]}

    def counted(r: httpx.Response, p: Place) -> bool:
        return sum(n for status, n in r.json()["total"].items() if status != "stale") > 0

    reports = IncidentReports(client, nanjing)

    def summoned(p: Place) -> tuple[str, str]:
        """A new incident over the place's street (the city opened it) and its summons: DEPARTMENT's inside,
        another department's outside (so DEPARTMENT's liaison never sees that one)."""
        area = [{"kind": "perimeter", "units": [p.chain["street"]]}]
        body = {
            "title": "矩阵",
            "class_code": "accident.fire",
            "level": "IV",
            "lon": p.lon,
            "lat": p.lat,
            "areas": area,
        }
        incident = str(client.post("/api/v1/incidents", json=body).json()["id"])
        department = DEPARTMENT if p.name == "inside" else "应急管理局"
        summons = client.post(f"/api/v1/incidents/{incident}/summons", json={"departments": [department]})
        return incident, str(summons.json()["summons"][0]["id"])

    def work_incident(p: Place) -> str:
        """The place's incident, its summons and a task, made on first use."""
        if "work_incident" not in p.extra:
            p.extra["work_incident"], p.extra["summons"] = summoned(p)
            p.extra["task"] = work_task(p)
        return p.extra["work_incident"]

    def summons(p: Place, ctx: dict[str, Any]) -> str:
        """The place's summons, or a new one when the call will report in."""
        if ctx["fresh"]:
            return summoned(p)[1]
        work_incident(p)
        return p.extra["summons"]

    def work_task(p: Place) -> str:
        """A task, new: DEPARTMENT's inside (its liaison moves it), the street's outside."""
        assignee = {"department": DEPARTMENT} if p.name == "inside" else {"unit": p.chain["street"]}
        made = client.post(f"/api/v1/incidents/{p.extra['work_incident']}/tasks", json={"title": "矩阵", **assignee})
        return str(made.json()["id"])

    def held_force(p: Place) -> int:
        """A force of the place's street, committed to the place's incident by the city."""
        force_id = _force(nanjing, p)[0]
        client.post(f"/api/v1/incidents/{work_incident(p)}/forces", json={"force_ids": [force_id]})
        return force_id

    def on_incident(suffix: str) -> Callable[[Place], str]:
        return lambda p: f"/api/v1/incidents/{work_incident(p)}{suffix}"

    def resource_needed(p: Place) -> dict[str, Any]:
        return {"needed_by": "2030-01-01T08:00:00+08:00", "lon": p.lon, "lat": p.lat}

    def requests_seen(p: Place) -> str:
        _incident(client, nanjing, p)  # the place's request exists before the list is read
        return "/api/v1/resource-requests"

    def request_of(p: Place) -> str:
        _incident(client, nanjing, p)
        return f"/api/v1/resource-requests/{p.extra['resource_request']}"

    def accept_offer(p: Place, ctx: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """The command accepts an offer (a fresh one when the call will move it)."""
        _incident(client, nanjing, p)
        offer = _offered(nanjing, p) if ctx["fresh"] else p.extra["resource_request"]
        return "POST", f"/api/v1/resource-requests/{offer}/accept", {"json": {"version": 1}}

    login = {"username": "matrix-login", "password": PASSWORD}
    return {
        ("GET", "/healthz"): Call(fixed("/healthz")),
        ("GET", "/healthz/ready"): Call(fixed("/healthz/ready")),
        ("GET", "/map"): Call(fixed("/map")),
        ("GET", "/docs"): Call(fixed("/docs")),
        ("GET", "/api/v1/units"): Call(get(lambda p: "/api/v1/units", lambda p: {"limit": 1})),
        ("GET", "/api/v1/units/{code}"): Call(get(lambda p: f"/api/v1/units/{p.chain['street']}")),
        ("GET", "/api/v1/locate"): Call(get(lambda p: "/api/v1/locate", lambda p: {"lon": p.lon, "lat": p.lat})),
        ("GET", "/api/v1/route"): Call(
            get(lambda p: "/api/v1/route", lambda p: {"lon": p.lon, "lat": p.lat, "category": CATEGORY})
        ),
        ("POST", "/api/v1/reports"): Call(post(lambda p: "/api/v1/reports", json=Place.body), 201, "refused"),
        ("GET", "/api/v1/cases"): Call(
            get(lambda p: "/api/v1/cases", around), outside="filtered", present=listed("case_id")
        ),
        ("GET", "/api/v1/reports"): Call(
            get(lambda p: "/api/v1/reports", around), outside="filtered", present=listed("report_id")
        ),
        ("GET", "/api/v1/cases/{case_id}"): Call(get(lambda p: f"/api/v1/cases/{p.case_id}"), outside="hidden"),
        ("GET", "/api/v1/reports/{report_id}"): Call(get(lambda p: f"/api/v1/reports/{p.report_id}"), outside="hidden"),
        ("POST", "/api/v1/cases/{case_id}/merge"): Call(merge, outside="hidden", fresh=True),
        ("POST", "/api/v1/reports/{report_id}/split"): Call(split, outside="hidden", fresh=True),
        ("GET", "/api/v1/media/{sha256}"): Call(get(lambda p: f"/api/v1/media/{p.media}"), outside="hidden"),
        ("POST", "/api/v1/cases/{case_id}/media"): Call(
            lambda p, c: (
                "POST",
                f"/api/v1/cases/{p.case_id}/media",
                {"files": [("media", ("evidence.png", _png(7), "image/png"))]},
            ),
            201,
            "hidden",
        ),
        ("GET", "/api/v1/cases/{case_id}/media"): Call(
            get(lambda p: f"/api/v1/cases/{p.case_id}/media"), outside="hidden"
        ),
        ("GET", "/open311/v2/discovery.{fmt}"): Call(fixed("/open311/v2/discovery.json")),
        ("GET", "/open311/v2/services.{fmt}"): Call(fixed("/open311/v2/services.json")),
        ("GET", "/open311/v2/services/{service_code}.{fmt}"): Call(fixed(f"/open311/v2/services/{CATEGORY}.json")),
        ("POST", "/open311/v2/requests.{fmt}"): Call(
            open311_post, 201, "refused", as_rule="cases:report", anonymous=403
        ),
        ("GET", "/open311/v2/requests.{fmt}"): Call(fixed("/open311/v2/requests.json")),
        ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): Call(
            get(lambda p: f"/open311/v2/requests/{p.report_id}.json")
        ),
        ("GET", "/open311/v2/tokens/{token}.{fmt}"): Call(get(lambda p: f"/open311/v2/tokens/{p.token}.json")),
        ("POST", "/api/v1/auth/token"): Call(post(lambda p: "/api/v1/auth/token", data=lambda p: login)),
        ("POST", "/api/v1/auth/refresh"): Call(
            post(
                lambda p: "/api/v1/auth/refresh",
                json=lambda p: {"refresh_token": _login(client, nanjing)["refresh_token"]},
            )
        ),
        ("POST", "/api/v1/auth/revoke"): Call(
            post(
                lambda p: "/api/v1/auth/revoke",
                json=lambda p: {"refresh_token": _login(client, nanjing)["refresh_token"]},
            )
        ),
        ("GET", "/api/v1/auth/me"): Call(fixed("/api/v1/auth/me")),
        ("GET", "/api/v1/users"): Call(
            fixed("/api/v1/users"),
            outside="filtered",
            present=lambda r, p: any(u["username"] == p.target_user for u in r.json()["users"]),
        ),
        ("POST", "/api/v1/users"): Call(post(lambda p: "/api/v1/users", json=new_user), 201, "refused"),
        ("PUT", "/api/v1/users/{username}/roles"): Call(
            as_user("PUT", "/roles", {"roles": ["planner"]}), outside="hidden", fresh=True
        ),
        ("POST", "/api/v1/users/{username}/disable"): Call(as_user("POST", "/disable"), outside="hidden", fresh=True),
        ("POST", "/api/v1/users/{username}/keys"): Call(
            post(lambda p: f"/api/v1/users/{p.target_user}/keys", json=lambda p: {"name": "sensor"}), 201, "hidden"
        ),
        ("POST", "/api/v1/users/{username}/keys/{prefix}/revoke"): Call(
            as_user("POST", "/keys/{prefix}/revoke"), outside="hidden", fresh=True
        ),
        ("GET", "/api/v1/audit"): Call(get(lambda p: "/api/v1/audit", lambda p: {"limit": 5})),
        ("GET", "/api/v1/audit/verify"): Call(fixed("/api/v1/audit/verify")),
        ("GET", "/api/v1/forces"): Call(
            get(lambda p: "/api/v1/forces", around),
            outside="filtered",
            present=lambda r, p: any(str(f["id"]) == p.extra["force"] for f in r.json()["items"]),
        ),
        ("GET", "/api/v1/forces/counts"): Call(
            get(lambda p: "/api/v1/forces/counts", lambda p: {"unit": p.chain["street"]}),
            outside="filtered",
            present=counted,
        ),
        ("GET", "/api/v1/forces/{force_id}"): Call(
            get(lambda p: f"/api/v1/forces/{p.extra['force']}"), outside="hidden"
        ),
        ("PUT", "/api/v1/forces/{force_id}/status"): Call(
            lambda p, c: ("PUT", f"/api/v1/forces/{force(p, c)}/status", {"json": {"status": "off_duty"}}),
            outside="hidden",
            fresh=True,
        ),
        ("POST", "/api/v1/forces/positions"): Call(
            post(lambda p: "/api/v1/forces/positions", json=fix_here),
            outside="filtered",
            present=lambda r, p: r.json()["accepted"] == 1,
        ),
        ("GET", "/api/v1/cases/{case_id}/candidates"): Call(
            get(lambda p: f"/api/v1/cases/{p.case_id}/candidates"), outside="hidden"
        ),
        ("POST", "/api/v1/cases/{case_id}/assignments"): Call(
            lambda p, c: (
                "POST",
                f"/api/v1/cases/{p.case_id}/assignments",
                {"json": {"force_ids": [int(force(p, c))]}},
            ),
            201,
            "hidden",
            fresh=True,
        ),
        ("GET", "/api/v1/cases/{case_id}/assignments"): Call(
            get(lambda p: f"/api/v1/cases/{p.case_id}/assignments"), outside="hidden"
        ),
        ("POST", "/api/v1/assignments/{assignment_id}/accept"): Call(
            lambda p, c: ("POST", f"/api/v1/assignments/{assignment(p, c)}/accept", {}), outside="hidden", fresh=True
        ),
        ("POST", "/api/v1/assignments/{assignment_id}/release"): Call(
            lambda p, c: ("POST", f"/api/v1/assignments/{assignment(p, c)}/release", {"json": {"reason": "cancelled"}}),
            outside="hidden",
            fresh=True,
        ),
        ("GET", "/api/v1/me/assignments"): Call(fixed("/api/v1/me/assignments")),  # answering for no force: none
        ("POST", "/api/v1/me/assignments/{assignment_id}/answer"): Call(
            lambda p, c: (  # nobody here answers for
                "POST",
                f"/api/v1/me/assignments/{p.extra['assignment']}/answer",
                {"json": {"answer": "accept"}},
            ),
            403,
        ),  # the place's force: 403 in words for whoever may answer
        ("GET", "/field"): Call(fixed("/field")),  # no session: to /login (followed)
        ("GET", "/field/categories"): Call(fixed("/field/categories")),  # a page's data: no session, to /login
        ("GET", "/sw.js"): Call(fixed("/sw.js")),  # the field app's service worker: public, no data
        ("POST", "/field/assignments/{assignment_id}/answer"): Call(
            post(lambda p: f"/field/assignments/{p.extra['assignment']}/answer", data=lambda p: {"answer": "accept"})
        ),
        ("POST", "/api/v1/force-requests"): Call(
            lambda p, c: (
                "POST",
                "/api/v1/force-requests",
                {"json": {"case_id": int(p.case_id), "force_id": _third_force(nanjing, p)}},
            ),
            201,
            "hidden",
            city=409,
        ),
        ("GET", "/api/v1/force-requests"): Call(
            fixed("/api/v1/force-requests"),
            outside="filtered",
            present=lambda r, p: any(str(q["id"]) == p.extra["request_in"] for q in r.json()["items"]),
        ),
        ("POST", "/api/v1/force-requests/{request_id}/commit"): Call(
            lambda p, c: ("POST", f"/api/v1/force-requests/{incoming(p, c)}/commit", {}), outside="hidden", fresh=True
        ),
        ("POST", "/api/v1/force-requests/{request_id}/decline"): Call(
            lambda p, c: ("POST", f"/api/v1/force-requests/{incoming(p, c)}/decline", {}), outside="hidden", fresh=True
        ),
        ("POST", "/api/v1/force-requests/{request_id}/cancel"): Call(
            lambda p, c: ("POST", f"/api/v1/force-requests/{outgoing(p, c)}/cancel", {}), outside="hidden", fresh=True
        ),
        ("GET", "/api/v1/cases/{case_id}/transitions"): Call(
            get(lambda p: f"/api/v1/cases/{p.case_id}/transitions"), outside="hidden"
        ),
        ("POST", "/api/v1/cases/{case_id}/transitions"): Call(
            lambda p, c: (
                "POST",
                f"/api/v1/cases/{reported(p, c)}/transitions",
                {"json": {"action": "accept", "version": 0}},
            ),
            outside="hidden",
            fresh=True,
            as_rule="cases:dispatch",
        ),
        ("GET", "/api/v1/deadlines"): Call(
            get(lambda p: "/api/v1/deadlines", lambda p: {"state": "due_soon", "within_minutes": 7 * 1440}),
            outside="filtered",
            present=lambda r, p: any(row["id"] == p.case_id for row in r.json()["items"]),
        ),
        ("GET", "/api/v1/evaluation"): Call(
            get(lambda p: "/api/v1/evaluation", lambda p: {"unit": p.chain["district"]}), outside="refused"
        ),
        ("GET", "/api/v1/analytics/trends"): Call(
            get(lambda p: "/api/v1/analytics/trends", lambda p: {"unit": p.chain["district"]}), outside="refused"
        ),
        ("GET", "/api/v1/analytics/places"): Call(
            get(lambda p: "/api/v1/analytics/places", lambda p: {"cells": h3.latlng_to_cell(p.lat, p.lon, 9)})
        ),  # unit names are public geography
        ("GET", "/login"): Call(fixed("/login")),
        ("GET", "/map/worker"): Call(fixed("/map/worker")),  # no session: to /login (followed)
        ("GET", "/cases"): Call(fixed("/cases")),  # no session: to /login (followed)
        ("GET", "/map/planner"): Call(fixed("/map/planner")),
        ("GET", "/queue"): Call(fixed("/queue")),  # pages: no session, to /login (followed)
        ("GET", "/cases/{case_id}"): Call(get(lambda p: f"/cases/{p.case_id}")),
        ("GET", "/cases/{case_id}/form/{action}"): Call(get(lambda p: f"/cases/{p.case_id}/form/accept")),
        ("POST", "/cases/{case_id}/act"): Call(
            post(lambda p: f"/cases/{p.case_id}/act", data=lambda p: {"action": "accept", "version": "0"})
        ),
        **incident_pages(),
        ("GET", "/api/v1/queues"): Call(fixed("/api/v1/queues")),
        ("GET", "/screen"): Call(fixed("/screen")),  # no session: to /login (followed)
        ("GET", "/api/v1/screen/figures"): Call(fixed("/api/v1/screen/figures")),
        ("GET", "/api/v1/screen/map"): Call(fixed("/api/v1/screen/map")),
        ("GET", "/api/v1/screen/ticker"): Call(
            get(lambda p: "/api/v1/screen/ticker", lambda p: {"ids": p.case_id}),
            outside="filtered",
            present=lambda r, p: any(i["id"] == str(p.case_id) for i in r.json()["items"]),
        ),
        ("GET", "/api/v1/search"): Call(
            get(lambda p: "/api/v1/search", lambda p: {"q": str(p.case_id)}),
            outside="filtered",
            present=lambda r, p: any(  # units public, cases scoped
                h["kind"] == "case" and h["id"] == str(p.case_id) for h in r.json()["hits"]
            ),
        ),
        ("GET", "/api/v1/queues/{name}"): Call(fixed("/api/v1/queues/handle"), as_rule="cases:handle"),
        ("POST", "/api/v1/auth/session"): Call(post(lambda p: "/api/v1/auth/session", data=lambda p: login)),
        ("POST", "/api/v1/auth/session/refresh"): Call(post(lambda p: "/api/v1/auth/session/refresh"), 401),
        ("POST", "/api/v1/auth/session/end"): Call(post(lambda p: "/api/v1/auth/session/end")),
        ("GET", "/api/v1/stream"): Call(get(lambda p: "/api/v1/stream", lambda p: {"last_event_id": -1}), 422),
        ("GET", "/api/v1/hexagons"): Call(
            get(lambda p: "/api/v1/hexagons", lambda p: {"resolution": 9, "state": "all", "bbox": box(p)}),
            outside="filtered",
            present=lambda r, p: any(
                f["properties"]["h3"] == h3.latlng_to_cell(p.lat, p.lon, 9) for f in r.json()["features"]
            ),
        ),
        ("GET", "/api/v1/map/labels"): Call(fixed(f"/api/v1/map/labels?zoom=10&bbox={CITY_BOX}")),  # public names
        **publication_calls(),
        ("GET", "/api/v1/map/unit-counts"): Call(
            get(lambda p: "/api/v1/map/unit-counts", lambda p: {"zoom": 10, "bbox": box(p)}),
            outside="filtered",
            present=lambda r, p: any(u["code"] in p.chain.values() and u["open"] > 0 for u in r.json()["units"]),
        ),
        ("GET", "/api/v1/map/trend"): Call(fixed("/api/v1/map/trend")),
        ("GET", "/tiles/{layer}/{z}/{x}/{y}.pbf"): Call(fixed("/tiles/district/0/0/0.pbf")),
        ("GET", "/tiles/units/{z}/{x}/{y}.pbf"): Call(fixed("/tiles/units/0/0/0.pbf")),
        ("GET", "/tiles/cases/{z}/{x}/{y}.pbf"): Call(fixed("/tiles/cases/3/9/1.pbf"), 422),  # checked once allowed
        ("GET", "/basemap/info"): Call(fixed("/basemap/info")),
        ("GET", "/basemap/{z}/{x}/{y}.{ext}"): Call(fixed("/basemap/3/9/1.png"), 422),  # with or without a package
        ("GET", "/ogc"): Call(fixed("/ogc")),
        ("GET", "/ogc/"): Call(fixed("/ogc/")),
        ("GET", "/ogc/conformance"): Call(fixed("/ogc/conformance")),
        ("GET", "/ogc/collections"): Call(fixed("/ogc/collections")),
        ("GET", "/ogc/collections/{collection_id}"): Call(fixed("/ogc/collections/cases")),
        ("GET", "/ogc/collections/{collection_id}/items"): Call(fixed("/ogc/collections/units-district/items")),
        ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"): Call(
            get(lambda p: f"/ogc/collections/units-street/items/{p.chain['street']}")
        ),
        ("GET", "/ogc/collections/cases/items"): Call(
            get(lambda p: "/ogc/collections/cases/items", around),
            outside="filtered",
            present=lambda r, p: any(f["id"] == p.case_id for f in r.json()["features"]),
        ),
        ("GET", "/ogc/collections/cases/items/{feature_id}"): Call(
            get(lambda p: f"/ogc/collections/cases/items/{p.case_id}"), outside="hidden"
        ),
        ("GET", "/ogc/collections/forces/items"): Call(
            get(lambda p: "/ogc/collections/forces/items", around),
            outside="filtered",
            present=lambda r, p: any(f["id"] == p.extra["force"] for f in r.json()["features"]),
        ),
        ("GET", "/ogc/collections/forces/items/{feature_id}"): Call(
            get(lambda p: f"/ogc/collections/forces/items/{p.extra['force']}"), outside="hidden"
        ),
        ("GET", "/api/v1/analytics/hotspots"): Call(
            get(lambda p: "/api/v1/analytics/hotspots", lambda p: {"unit": p.chain["district"], "permutations": 0}),
            outside="refused",
        ),
        ("GET", "/api/v1/analytics/bins"): Call(
            get(lambda p: "/api/v1/analytics/bins", lambda p: {"unit": p.chain["district"], "by": "street"}),
            outside="refused",
        ),
        ("GET", "/api/v1/analytics/recurrences"): Call(
            get(lambda p: "/api/v1/analytics/recurrences", lambda p: {"unit": p.chain["district"]}), outside="refused"
        ),
        ("POST", "/api/v1/analytics/proposals"): Call(
            post(lambda p: "/api/v1/analytics/proposals", json=lambda p: {"unit": p.chain["district"], "times": 50}),
            201,
            outside="refused",
        ),
        ("GET", "/api/v1/analytics/proposals"): Call(fixed("/api/v1/analytics/proposals")),
        ("POST", "/api/v1/analytics/proposals/{proposal_id}/decision"): Call(
            post(lambda p: "/api/v1/analytics/proposals/987654321/decision", json=lambda p: {"decision": "dismissed"}),
            404,
        ),  # no such proposal: 404 for whoever may decide
        **reports.calls(),
        **incident_calls(reports),
        **sensing_calls(nanjing, box),
        ("POST", "/api/v1/incidents/{incident_id}/resources"): Call(
            lambda p, c: (
                "POST",
                f"/api/v1/incidents/{_incident(client, nanjing, p)}/resources",
                {"json": {"resource_type": "pump", "quantity": 1, "to_unit": THIRD_DISTRICT, **resource_needed(p)}},
            ),
            201,
            "hidden",
        ),
        ("GET", "/api/v1/incidents/{incident_id}/resources"): Call(
            get(lambda p: f"/api/v1/incidents/{_incident(client, nanjing, p)}/resources"), outside="hidden"
        ),
        ("GET", "/api/v1/incidents/{incident_id}/resources/nearest"): Call(
            get(
                lambda p: f"/api/v1/incidents/{_incident(client, nanjing, p)}/resources/nearest",
                lambda p: {"resource_type": "pump"},
            ),
            outside="hidden",
        ),
        ("GET", "/api/v1/resource-requests"): Call(
            get(requests_seen, lambda p: {"state": "offered", "limit": 200}),
            outside="filtered",
            present=lambda r, p: any(str(i["id"]) == p.extra["resource_request"] for i in r.json()["items"]),
        ),
        ("GET", "/api/v1/resource-requests/{request_id}"): Call(get(request_of), outside="hidden"),
        ("POST", "/api/v1/resource-requests/{request_id}/{action}"): Call(accept_offer, outside="hidden", fresh=True),
        ("POST", "/api/v1/ratings"): Call(
            lambda p, c: ("POST", "/api/v1/ratings", {"json": {"token": str(uuid.uuid4()), "rating": "satisfied"}}), 404
        ),  # a token nobody holds: 404 for all
        ("POST", "/api/v1/incidents/{incident_id}/summons"): Call(
            post(on_incident("/summons"), json=lambda p: {"departments": [f"矩阵-{uuid.uuid4().hex[:8]}"]}),
            201,
            "hidden",
        ),
        ("GET", "/api/v1/incidents/{incident_id}/summons"): Call(get(on_incident("/summons")), outside="hidden"),
        ("GET", "/api/v1/me/summons"): Call(fixed("/api/v1/me/summons")),
        ("POST", "/api/v1/summons/{summons_id}/report-in"): Call(
            lambda p, c: ("POST", f"/api/v1/summons/{summons(p, c)}/report-in", {"json": {}}),
            outside="hidden",
            fresh=True,
        ),
        ("POST", "/api/v1/incidents/{incident_id}/tasks"): Call(
            post(on_incident("/tasks"), json=lambda p: {"title": "矩阵", "unit": p.chain["street"]}), 201, "hidden"
        ),
        ("GET", "/api/v1/incidents/{incident_id}/tasks"): Call(get(on_incident("/tasks")), outside="hidden"),
        ("POST", "/api/v1/incidents/{incident_id}/tasks/{task_id}/moves"): Call(
            lambda p, c: (
                "POST",
                f"/api/v1/incidents/{work_incident(p)}/tasks/{work_task(p) if c['fresh'] else p.extra['task']}/moves",
                {"json": {"state": "acknowledged", "version": 1}},
            ),
            outside="hidden",
            fresh=True,
            as_rule="incidents:command | incidents:report_in",  # assignments:answer alone: answering for no force
        ),
        ("POST", "/api/v1/incidents/{incident_id}/tasks/{task_id}/photos"): Call(
            lambda p, c: (
                "POST",
                f"/api/v1/incidents/{work_incident(p)}/tasks/{p.extra['task']}/photos",
                {"files": [("media", ("task.png", _png(11), "image/png"))]},
            ),
            201,
            "hidden",
            as_rule="incidents:command | incidents:report_in",
        ),
        ("POST", "/api/v1/incidents/{incident_id}/forces"): Call(
            lambda p, c: ("POST", on_incident("/forces")(p), {"json": {"force_ids": [_force(nanjing, p)[0]]}}),
            201,
            "hidden",
        ),
        ("GET", "/api/v1/incidents/{incident_id}/forces"): Call(get(on_incident("/forces")), outside="hidden"),
        ("POST", "/api/v1/incidents/{incident_id}/forces/release"): Call(
            lambda p, c: (
                "POST",
                on_incident("/forces/release")(p),
                {"json": {"force_ids": [held_force(p) if c["fresh"] else 987654321]}},
            ),
            outside="hidden",
            fresh=True,
        ),
    }


# the incident board's pages and forms: behind the browser session like every page (an API key is no
# session: each goes to /login, followed), their scope checked inside (tests/test_incidents.py and
# tests/test_incident_board_reports.py walk them as commanders, liaisons and readers)
INCIDENT_PAGES = (
    ("GET", "/incidents"),
    ("POST", "/incidents"),
    ("GET", "/incidents/{incident_id}"),
    *(
        ("POST", f"/incidents/{{incident_id}}/{form}")
        for form in (
            "level",
            "close",
            "areas",
            "cases",
            "summons",
            "summons/{summons_id}/report-in",
            "tasks",
            "sitreps",
            "sitreps/{sitrep_id}",
            "sitreps/{sitrep_id}/approve",
            "sitreps/{sitrep_id}/issue",
            "alerts",
            "alerts/{alert_id}/approve",
            "alerts/{alert_id}/publish",
            "alerts/{alert_id}/update",
            "alerts/{alert_id}/cancel",
            "tasks/{task_id}/moves",
            "resources",
            "resource-requests/{request_id}/{action}",
        )
    ),
    ("GET", "/resource-requests"),
    ("POST", "/resource-requests/{request_id}/{action}"),
    ("GET", "/alarms"),  # the sensing pages are behind the same page guard
    ("POST", "/alarms/{alarm_id}/acknowledge"),
    ("POST", "/alarms/{alarm_id}/close"),
    ("GET", "/scenarios"),  # the registry's screen: city command's, behind the page guard
    ("POST", "/scenarios"),
    ("POST", "/scenarios/{code}"),
    ("GET", "/subscriptions"),  # a department system's webhooks, behind the page guard
    ("POST", "/subscriptions"),
    ("POST", "/subscriptions/{subscription_id}/stop"),
    ("POST", "/subscriptions/{subscription_id}/replay"),
    ("POST", "/subscriptions/{subscription_id}/dead-letters/{letter_id}/retry"),
    ("GET", "/metro"),  # the metropolitan screen: city command's, behind the page guard
)


def publication_calls() -> dict[tuple[str, str], Call]:
    """The scenario registry (read by anyone, written by city command) and the public publications (no month is
    published in the shared city: 404 for everyone, as for a month not yet published)."""

    def draft(p: Place, c: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        code = f"matrix-{uuid.uuid4().hex[:10]}"
        body = {
            "code": code,
            "name": "矩阵场景",
            "name_en": "Matrix",
            "field": "daily",
            "owner_unit": p.chain["district"],
        }
        return "POST", "/api/v1/scenarios", {"json": body}

    def rewrite(p: Place, c: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        body = {"code": "matrix-none", "name": "无", "name_en": "None", "field": "daily", "owner_unit": "320100"}
        return "PUT", "/api/v1/scenarios/matrix-none", {"json": body | {"version": 1}}

    def fixed(url: str) -> Request:
        return lambda p, c: ("GET", url, {})

    return {
        ("GET", "/api/v1/scenarios"): Call(fixed("/api/v1/scenarios")),
        ("POST", "/api/v1/scenarios"): Call(draft, 201),
        ("PUT", "/api/v1/scenarios/{code}"): Call(rewrite, 404),  # the permission passes; no such scenario
        ("GET", "/api/v1/publications"): Call(fixed("/api/v1/publications")),
        ("GET", "/api/v1/publications/{month}"): Call(fixed("/api/v1/publications/1999-01"), 404),
        ("GET", "/public"): Call(fixed("/public")),
        ("GET", "/public/{month}"): Call(fixed("/public/1999-01"), 404),
        ("GET", "/public/{month}/{name}"): Call(fixed("/public/1999-01/summary.json"), 404),
        **change_calls(),
        **peer_calls(),
    }


def change_calls() -> dict[tuple[str, str], Call]:
    """The change feed (each caller's own changes: row-level security, tested in tests/test_changes.py) and
    webhook subscriptions: a private URL is refused (422) to everyone allowed to subscribe; a subscription
    that is not the caller's does not exist (404)."""
    missing = "/api/v1/subscriptions/987654321"

    def call(verb: str, url: str, body: dict[str, Any] | None = None) -> Request:
        return lambda p, c: (verb, url, {"json": body} if body is not None else {})

    private = {"name": "内网系统", "url": "http://10.0.0.1/hook", "types": ["case.created"]}
    return {
        ("GET", "/api/v1/changes"): Call(call("GET", "/api/v1/changes?limit=1")),
        ("GET", "/api/v1/changes/schemas/{change_type}"): Call(call("GET", "/api/v1/changes/schemas/case.created")),
        ("POST", "/api/v1/subscriptions"): Call(call("POST", "/api/v1/subscriptions", private), 422),
        ("GET", "/api/v1/subscriptions"): Call(call("GET", "/api/v1/subscriptions")),
        ("GET", "/api/v1/subscriptions/{subscription_id}"): Call(call("GET", missing), 404),
        ("DELETE", "/api/v1/subscriptions/{subscription_id}"): Call(call("DELETE", missing), 404),
        ("POST", "/api/v1/subscriptions/{subscription_id}/replay"): Call(
            call("POST", f"{missing}/replay", {"cursor": 0}), 404
        ),
        ("GET", "/api/v1/subscriptions/{subscription_id}/dead-letters"): Call(
            call("GET", f"{missing}/dead-letters"), 404
        ),
        ("POST", "/api/v1/subscriptions/{subscription_id}/dead-letters/{letter_id}/retry"): Call(
            call("POST", f"{missing}/dead-letters/1/retry"), 404
        ),
    }


def peer_calls() -> dict[tuple[str, str], Call]:
    """Peer cities: the city's own description is public; the handovers are city command's; a message from
    a city that is not a peer is refused for everyone alike (401: it is the signature that admits, not a
    login — signatures are tested in tests/test_handovers.py)."""

    def call(verb: str, url: str, body: dict[str, Any] | None = None) -> Request:
        return lambda p, c: (verb, url, {"json": body} if body is not None else {})

    handover = {
        "handover": 1,
        "service_code": "010101",
        "severity": "IV",
        "source": "hotline",
        "lat": 31.5,
        "long": 118.5,
        "description": "矩阵",
        "requested_datetime": "2026-12-05T08:00:00+08:00",
    }
    return {
        ("GET", "/api/v1/peers/self"): Call(call("GET", "/api/v1/peers/self")),
        ("GET", "/api/v1/peers"): Call(call("GET", "/api/v1/peers")),
        ("GET", "/api/v1/handovers"): Call(call("GET", "/api/v1/handovers")),
        ("POST", "/api/v1/peers/{city}/handovers"): Call(
            call("POST", "/api/v1/peers/nowhere/handovers", handover), 401
        ),
        ("POST", "/api/v1/peers/{city}/handovers/{handover_id}/status"): Call(
            call("POST", "/api/v1/peers/nowhere/handovers/1/status", {"handover": 1}), 401
        ),
    }


def incident_pages() -> dict[tuple[str, str], Call]:
    """Every incident page and form, called without a session (ids that need not exist: the login comes first)."""

    def request(verb: str, path: str) -> Request:
        url = re.sub(r"\{\w+\}", "987654321", path.replace("{action}", "offer"))
        return lambda p, c: (verb, url, {"data": {"version": "1"}} if verb == "POST" else {})

    return {(verb, path): Call(request(verb, path)) for verb, path in INCIDENT_PAGES}


def sensing_calls(nanjing: Engine, box: Callable[[Place], str]) -> dict[tuple[str, str], Call]:
    """The sensing endpoints: a gateway's batch, sensors and their readings, alarms and their moves."""

    def reading(p: Place, c: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        body = [{"device": p.extra["sensor"], "t": datetime.now(UTC).isoformat(), "v": 1.5}]
        return "POST", "/api/v1/observations", {"json": body}

    def alarm_move(action: str) -> Request:
        def call(p: Place, c: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
            alarm = _alarm(nanjing, p) if c["fresh"] else p.extra["alarm"]
            return "POST", f"/api/v1/alarms/{alarm}/{action}", {"json": {"version": 1, "note": "已处置"}}

        return call

    def has(key: str, items: str, field: str) -> Callable[[httpx.Response, Place], bool]:
        return lambda r, p: any(str(item[field]) == p.extra[key] for item in r.json()[items])

    def inbound_warning(p: Place, c: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        body = cap(f"MATRIX-{uuid.uuid4().hex[:10]}", polygon=None, geocode=p.chain["district"])
        return "POST", "/api/v1/alerts/inbound", {"content": body, "headers": {"Content-Type": "application/cap+xml"}}

    def sensor_url(tail: str) -> Callable[[Place], str]:
        return lambda p: f"/api/v1/sensors/{p.extra['sensor']}{tail}"

    return {
        ("POST", "/api/v1/observations"): Call(reading, outside="unknown"),
        ("GET", "/api/v1/sensors"): Call(
            lambda p, c: ("GET", "/api/v1/sensors", {"params": {"bbox": box(p)}}),
            outside="filtered",
            present=has("sensor", "features", "id"),
        ),
        ("GET", "/api/v1/sensors/{code}"): Call(lambda p, c: ("GET", sensor_url("")(p), {}), outside="hidden"),
        ("GET", "/api/v1/sensors/{code}/readings"): Call(
            lambda p, c: ("GET", sensor_url("/readings")(p), {}), outside="hidden"
        ),
        ("GET", "/api/v1/alarms"): Call(
            lambda p, c: ("GET", "/api/v1/alarms", {"params": {"limit": 5000}}),
            outside="filtered",
            present=has("alarm", "items", "id"),
        ),
        ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"): Call(
            alarm_move("acknowledge"), outside="hidden", fresh=True
        ),
        ("POST", "/api/v1/alarms/{alarm_id}/close"): Call(alarm_move("close"), outside="hidden", fresh=True),
        ("GET", "/api/v1/sensing/refusals"): Call(lambda p, c: ("GET", "/api/v1/sensing/refusals", {})),
        ("POST", "/api/v1/alerts/inbound"): Call(inbound_warning, 201),
        ("GET", "/api/v1/warnings"): Call(lambda p, c: ("GET", "/api/v1/warnings", {})),
    }


def incident_calls(reports: IncidentReports) -> dict[tuple[str, str], Call]:
    """The core incident routes. Reading follows the incident's reach (hidden outside); commanding is scoped
    to the commanding chain, which tests/test_incidents.py covers tier by tier, so here each commanding route
    is called with a body it refuses (422) or an incident that does not exist (404), the same for every role
    holding incidents:command — the matrix checks the permission gate."""
    base = "/api/v1/incidents"

    def on(suffix: str) -> Request:
        return lambda p, c: ("GET", f"{base}/{reports.incident(p)}{suffix}", {})

    def refused(verb: str, suffix: str, body: dict[str, Any] | None = None) -> Request:
        return lambda p, c: (verb, f"{base}/987654321{suffix}", {"json": body} if body is not None else {})

    def listing(url: str) -> Request:
        def request(p: Place, c: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
            reports.incident(p)  # the place's incident exists before the list is read
            return "GET", url, {}

        return request

    unknown_class = {"title": "x", "class_code": "accident.unknown", "level": "IV", "lon": 118.8, "lat": 32.06}
    return {
        ("GET", base): Call(
            listing(base),
            outside="filtered",
            present=lambda r, p: any(str(i["id"]) == p.extra["incident"] for i in r.json()["incidents"]),
        ),
        ("GET", f"{base}/map"): Call(
            listing(f"{base}/map"),
            outside="filtered",
            present=lambda r, p: any(str(f["id"]) == p.extra["incident"] for f in r.json()["features"]),
        ),
        ("POST", base): Call(lambda p, c: ("POST", base, {"json": unknown_class}), 422),
        ("GET", f"{base}/{{incident_id}}"): Call(on(""), outside="hidden"),
        ("GET", f"{base}/{{incident_id}}/impact"): Call(on("/impact"), outside="hidden"),
        ("GET", f"{base}/{{incident_id}}/cases"): Call(on("/cases"), outside="hidden"),
        ("GET", f"{base}/{{incident_id}}/timeline"): Call(on("/timeline"), outside="hidden"),
        ("POST", f"{base}/{{incident_id}}/level"): Call(refused("POST", "/level", {"level": "I", "version": 1}), 404),
        ("PUT", f"{base}/{{incident_id}}/command"): Call(refused("PUT", "/command", {"version": 1}), 404),
        ("POST", f"{base}/{{incident_id}}/close"): Call(refused("POST", "/close", {"version": 1, "note": "x"}), 404),
        ("POST", f"{base}/{{incident_id}}/areas"): Call(
            refused("POST", "/areas", {"kind": "closure", "units": ["320102"]}), 404
        ),
        ("DELETE", f"{base}/{{incident_id}}/areas/{{area_id}}"): Call(refused("DELETE", "/areas/1"), 404),
        ("POST", f"{base}/{{incident_id}}/cases"): Call(refused("POST", "/cases", {"case_ids": [1]}), 404),
    }


class IncidentReports:
    """Incidents at each place (one active, one closed; 水务局 summoned to the inside ones) with their
    situation reports and CAP alerts, made by the staff client and approved by a second city commander."""

    def __init__(self, client: TestClient, nanjing: Engine) -> None:
        self.client, self.nanjing = client, nanjing
        self._approver: dict[str, str] = {}

    def approver(self) -> dict[str, str]:
        if not self._approver:
            name = f"approver-{uuid.uuid4().hex[:8]}"
            with self.nanjing.begin() as conn:
                create_user(conn, name, unit_code="320100", roles=["city_commander"], password=None, actor="tests")
                self._approver["X-API-Key"] = create_api_key(conn, name, "matrix", actor="tests")
        return self._approver

    def _open(self, p: Place, closed: bool) -> str:
        body = {
            "title": f"矩阵 {PLACE_WORDS[p.name]}",
            "class_code": "accident.fire",
            "level": "IV",
            "lon": p.lon,
            "lat": p.lat,
        }
        incident = self.client.post("/api/v1/incidents", json=body).json()
        if p.name == "inside":  # the department's liaison sees the incidents that summoned 水务局
            with self.nanjing.begin() as conn:
                conn.execute(
                    text("UPDATE incident SET departments = ARRAY[:d] WHERE id = :i"),
                    {"d": DEPARTMENT, "i": incident["id"]},
                )
        if closed:
            self.client.post(
                f"/api/v1/incidents/{incident['id']}/close", json={"version": incident["version"], "note": "x"}
            )
        return str(incident["id"])

    def incident(self, p: Place, closed: bool = False) -> str:
        key = "closed_incident" if closed else "incident"
        if key not in p.extra:
            p.extra[key] = self._open(p, closed)
            if not closed:
                p.extra["sitrep_first"] = str(self.sitrep(p, "first", issue=True)["id"])
                p.extra["sitrep"] = str(self.sitrep(p, "update")["id"])
                p.extra["alert"] = str(self.alert(p, publish=True)["id"])
        return p.extra[key]

    def sitrep(self, p: Place, kind: str = "update", approve: bool = False, issue: bool = False) -> dict[str, Any]:
        at = datetime.now(UTC).isoformat()
        body = {"kind": kind, "body": "情况", "figures_at": at}
        report = self.client.post(f"/api/v1/incidents/{self.incident(p)}/sitreps", json=body).json()
        if approve or issue:
            report = self.client.post(
                f"/api/v1/sitreps/{report['id']}/approve", json={"version": report["version"]}, headers=self.approver()
            ).json()
        if issue:
            report = self.client.post(
                f"/api/v1/sitreps/{report['id']}/issue", json={"version": report["version"]}
            ).json()
        return report

    def alert(self, p: Place, approve: bool = False, publish: bool = False) -> dict[str, Any]:
        words = {"headline": "预警", "event": "火灾", "instruction": "避险"}
        expires = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1).isoformat()
        body = {"zh": words, "urgency": "Expected", "certainty": "Likely", "responseType": "Avoid", "expires": expires}
        alert = self.client.post(f"/api/v1/incidents/{self.incident(p)}/alerts", json=body).json()
        if approve or publish:
            alert = self.client.post(
                f"/api/v1/alerts/{alert['id']}/approve", json={"version": alert["version"]}, headers=self.approver()
            ).json()
        if publish:
            alert = self.client.post(f"/api/v1/alerts/{alert['id']}/publish").json()
        return alert

    def calls(self) -> dict[tuple[str, str], Call]:
        """The matrix rows of sitreps, the after-action report and alerts."""

        def fresh_or(key: str, make: Callable[[Place], dict[str, Any]]) -> Callable[[Place, dict[str, Any]], str]:
            def pick(p: Place, c: dict[str, Any]) -> str:
                self.incident(p)
                return str(make(p)["id"]) if c["fresh"] else p.extra[key]

            return pick

        def act(verb: str, url: str, pick: Callable[[Place, dict[str, Any]], str], body: dict[str, Any]) -> Request:
            return lambda p, c: (verb, url.format(pick(p, c)), {"json": body})

        def on_incident(suffix: str, closed: bool = False) -> Request:
            return lambda p, c: ("GET", f"/api/v1/incidents/{self.incident(p, closed)}{suffix}", {})

        words = {"headline": "预警更新", "event": "火灾", "instruction": "避险"}
        expires = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1).isoformat()
        alert_body = {
            "zh": words,
            "urgency": "Expected",
            "certainty": "Likely",
            "responseType": "Avoid",
            "expires": expires,
        }
        sitrep_body = {"kind": "update", "body": "情况", "figures_at": datetime.now(UTC).isoformat()}
        draft = fresh_or("sitrep", lambda p: self.sitrep(p))
        approved = fresh_or("sitrep", lambda p: self.sitrep(p, approve=True))
        alert_draft = fresh_or("alert", lambda p: self.alert(p))
        alert_approved = fresh_or("alert", lambda p: self.alert(p, approve=True))
        alert_published = fresh_or("alert", lambda p: self.alert(p, publish=True))

        def xml(p: Place, c: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
            self.incident(p)
            identifier = self.client.get(f"/api/v1/incidents/{p.extra['incident']}/alerts").json()["alerts"][0]
            return "GET", f"/api/v1/alerts/{identifier['identifier']}.xml", {}

        return {
            ("GET", "/api/v1/incidents/{incident_id}/sitreps"): Call(on_incident("/sitreps"), outside="hidden"),
            ("POST", "/api/v1/incidents/{incident_id}/sitreps"): Call(
                lambda p, c: ("POST", f"/api/v1/incidents/{self.incident(p)}/sitreps", {"json": sitrep_body}),
                201,
                "hidden",
            ),
            ("PUT", "/api/v1/sitreps/{sitrep_id}"): Call(
                act("PUT", "/api/v1/sitreps/{}", draft, {**sitrep_body, "version": 1}), outside="hidden", fresh=True
            ),
            ("POST", "/api/v1/sitreps/{sitrep_id}/approve"): Call(
                act("POST", "/api/v1/sitreps/{}/approve", draft, {"version": 1}), outside="hidden", fresh=True
            ),
            ("POST", "/api/v1/sitreps/{sitrep_id}/issue"): Call(
                act("POST", "/api/v1/sitreps/{}/issue", approved, {"version": 2}), outside="hidden", fresh=True
            ),
            ("GET", "/api/v1/sitreps/{sitrep_id}.{fmt}"): Call(
                lambda p, c: ("GET", f"/api/v1/sitreps/{self.incident(p) and p.extra['sitrep']}.html", {}),
                outside="hidden",
            ),
            ("GET", "/api/v1/incidents/{incident_id}/after-action.{fmt}"): Call(
                on_incident("/after-action.json", closed=True), outside="hidden"
            ),
            ("GET", "/api/v1/incidents/{incident_id}/alerts"): Call(on_incident("/alerts"), outside="hidden"),
            ("POST", "/api/v1/incidents/{incident_id}/alerts"): Call(
                lambda p, c: ("POST", f"/api/v1/incidents/{self.incident(p)}/alerts", {"json": alert_body}),
                201,
                "hidden",
            ),
            ("POST", "/api/v1/alerts/{alert_id}/update"): Call(
                act("POST", "/api/v1/alerts/{}/update", alert_published, alert_body), 201, "hidden", fresh=True
            ),
            ("POST", "/api/v1/alerts/{alert_id}/cancel"): Call(
                act("POST", "/api/v1/alerts/{}/cancel", alert_published, {"note": "解除"}), 201, "hidden", fresh=True
            ),
            ("POST", "/api/v1/alerts/{alert_id}/approve"): Call(
                act("POST", "/api/v1/alerts/{}/approve", alert_draft, {"version": 1}), outside="hidden", fresh=True
            ),
            ("POST", "/api/v1/alerts/{alert_id}/publish"): Call(
                lambda p, c: ("POST", f"/api/v1/alerts/{alert_approved(p, c)}/publish", {}),
                outside="hidden",
                fresh=True,
            ),
            ("GET", "/api/v1/alerts/{identifier}.xml"): Call(xml),  # published alerts are for the public
            ("GET", "/api/v1/alerts.atom"): Call(lambda p, c: ("GET", "/api/v1/alerts.atom", {})),
        }


def expected(rule: str, role: str | None, perms: dict[str, set[str]], place: str, call: Call) -> tuple[int, bool]:
    """(status, whether the place's resource shows) as the rules say."""
    rule = call.as_rule or rule
    if rule == "public":
        return call.success, True
    if role is None:
        return call.anonymous, False
    if rule != "signed_in" and not set(rule.split(" | ")) & perms[role]:  # "a | b": any one of them
        return (403, False)
    if call.city is not None and ROLE_UNIT[role] == "city":
        return call.city, True
    reaches = place == "inside" or ROLE_UNIT[role] == "city" or call.outside == "none"
    if reaches:
        return call.success, True
    outcomes = {"hidden": (404, False), "refused": (403, False), "filtered": (call.success, False)}
    return {**outcomes, "unknown": (422, False)}[call.outside]


def test_every_endpoint_every_role_inside_and_outside(
    client: TestClient,
    anonymous: TestClient,
    nanjing: Engine,
    places: dict[str, Place],
    people: dict[str | None, dict[str, str]],
    permissions: dict[str, set[str]],
) -> None:
    with nanjing.begin() as conn:  # the login endpoint's user (public rule: anyone may try)
        create_user(conn, "matrix-login", unit_code="320100", roles=["planner"], password=PASSWORD, actor="tests")
    table, how = route_table(client), calls(client, nanjing)
    assert set(table) == set(how), f"endpoints without a matrix entry: {sorted(set(table) - set(how))}"
    wrong = []
    for (method, path), rule in sorted(table.items()):
        call = how[(method, path)]
        for role, headers in people.items():
            for name, place in places.items():
                status, shows = expected(rule, role, permissions, name, call)
                ctx = {"fresh": call.fresh and 200 <= status < 300, "key": headers["X-API-Key"]}
                verb, url, kwargs = call.request(place, ctx)
                sender = anonymous if role is None else client
                sent = {**(headers if role else {}), **kwargs.pop("headers", {})}  # a call's own headers: its body's
                response = sender.request(verb, url, headers=sent, **kwargs)
                sender.cookies.clear()  # a browser session started by one cell must not sign in the next
                listed = call.present is not None and response.status_code == status < 300
                if response.status_code != status or (listed and call.present(response, place) != shows):  # type: ignore[misc]
                    wrong.append(
                        f"{method} {path} as {role or 'nobody'} {name}: {response.status_code} "
                        f"(expected {status}{'' if shows else ', hidden'}) {response.text[:120]}"
                    )
    assert not wrong, f"{len(wrong)} cells of the matrix are wrong:\n" + "\n".join(wrong)
