"""`cityops bench queues`: the work queues (待办) of a district handler and of the city commander.

Why: a queue is the first screen of everyone who acts in the loop; it must answer at once with
a city's worth of open cases. What is compared, in one run, against each other:

- ``GET /api/v1/queues/{name}?limit=50`` (a page of the caller's busiest queue, most urgent
  first: handler → ``handle``, commander → ``intake`` and ``dispatch``) and ``GET /api/v1/queues``
  (the counts), p50 / p99 with wrk — against the plain case list of the same caller and the same
  rows, ``GET /api/v1/cases?limit=50`` (ratio: queue p99 / list p99), against the same SQL
  through a minimal FastAPI app (the same psycopg driver and pool, the scope set the same way, no
  middleware, no authentication), so what the platform's request path adds shows, and against
  the 100 ms p99 target;
- the ``/queue?q=<name>`` page in headless Chromium, from navigation until the cards are in the
  DOM and the load event fired: cold (a new browser context) and warm (a second navigation in
  the same context), against the 2 s target.

Data: the demo hierarchy and ``cases`` open cases (the historic-import path, as `bench map`
loads them), in a database of its own kept between runs. Benchmark data shaping, not a workflow:
each run spreads the benchmark's own open cases over the loop's open states with set-based SQL
(``SHAPE``: the state, the stage's start, the handling department and dispatch time for the
states after dispatch, the handling deadline) and writes each case's ``case_clock`` row the way a
move would (``due_at`` the stage's due time — the handling deadline for handling stages —,
``escalate_at`` the same, or a later step for cases already overdue, as the scheduler leaves them;
a parked case has no due time, only its review). About a fifth of each stage is overdue. No
transition is written: the audit chain of these cases ends at ``reported``.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import uuid
from typing import Annotated

import psycopg
from fastapi import FastAPI, Query, Response
from playwright.sync_api import Browser
from psycopg.conninfo import make_conninfo
from rich.console import Console
from sqlalchemy import Engine, text

from bench.bare_app import BareApp, json_response
from bench.harness import Row, WrkResult, bench_caller, cycling_gets, ensure_cases, print_table, run_wrk, served, warm
from bench.machine import describe
from bench.map import PASSWORD, VIEWPORT, chromium, session_cookies, wait_until
from command.case_states import OPEN_STATES
from command.listing import ListFilter, list_cases
from command.queues import BY_NAME, ITEMS, page_parameters, plain, queue_counts, queue_items
from command.users import create_user, get_user
from command.working_time import WorkingCalendar
from spatial.db import libpq_url, make_engine, session_options
from spatial.settings import StoreSettings
from web.deps import SESSION_SCOPE

PREFIX = "queues"  # the benchmark's cases: external ids "queues-…"; only these are shaped
TARGET_READY_S = 2.0
TARGET_P99_MS = 100.0
PAGE = 50
TIMEOUT_S = 30  # a slow answer is measured, not dropped as failed (the commander's counts scan every open case)
# share of the open cases per state, in per cent: most wait to be handled or checked
SHARES = (
    ("reported", 14),
    ("accepted", 6),
    ("filed", 6),
    ("returned", 2),
    ("dispatched", 10),
    ("acknowledged", 10),
    ("handling", 22),
    ("rework", 3),
    ("extension_requested", 3),
    ("parking_requested", 2),
    ("parked", 4),
    ("checking", 18),
)
HANDLING = ("acknowledged", "handling", "rework")  # due at the handling deadline
DISPATCHED = ("dispatched", *HANDLING, "extension_requested", "parking_requested", "parked", "checking")
USERS_ENV = "CITYOPS_BENCH_QUEUE_USERS"  # the minimal app's callers: "who=username,…"


def _shares() -> str:
    bounds, low = [], 0
    for state, share in SHARES:
        bounds.append(f"('{state}', {low}, {low + share})")
        low += share
    assert low == 100 and {s for s, _ in SHARES} == set(OPEN_STATES)
    return ", ".join(bounds)


def _listed(states: tuple[str, ...]) -> str:
    return ", ".join(f"'{s}'" for s in states)


# The stage's span in wall time, from stage_limit (working hours taken as 3 wall hours each, a
# working day as 1.4 days: the working calendar's average; data shaping, not a deadline); a
# handling stage lasts the category's typical 5 days; a parked case is reviewed after its span.
# due = now + (u·1.25 − 0.25)·span with u uniform in [0, 1) per case: a fifth already overdue.
SHAPE = f"""
WITH shares(state, low, high) AS (VALUES {_shares()}),
picked AS (
  SELECT e.id, s.state, span.span,
         now() + (mod(abs(hashint8(e.id + 104729)), 1000) / 1000.0 * 1.25 - 0.25) * span.span AS due
  FROM case_file e
  JOIN shares s ON mod(abs(hashint8(e.id)), 100) >= s.low AND mod(abs(hashint8(e.id)), 100) < s.high
  JOIN stage_limit l ON l.state = s.state
  CROSS JOIN LATERAL (SELECT CASE WHEN l.time_limit IS NULL THEN interval '5 days'
      WHEN l.limit_kind = 'urgent_hours' THEN make_interval(secs => l.time_limit * 3600)
      WHEN l.limit_kind = 'working_hours' THEN make_interval(secs => l.time_limit * 3 * 3600)
      WHEN l.limit_kind = 'working_days' THEN make_interval(secs => l.time_limit * 1.4 * 86400)
      ELSE make_interval(days => l.time_limit::int) END AS span) span
  WHERE e.external_id LIKE :pattern AND e.state NOT IN ('closed', 'void')
),
moved AS (
  UPDATE case_file e SET
    state = p.state,
    stage_at = p.due - p.span,
    handling_department = CASE WHEN p.state IN ({_listed(DISPATCHED)})
                               THEN coalesce(e.departments[1], :fallback) END,
    dispatched_at = CASE WHEN p.state = 'dispatched' THEN p.due - p.span
                         WHEN p.state IN ({_listed(DISPATCHED)}) THEN p.due - p.span - interval '1 day' END,
    deadline = CASE WHEN p.state IN ({_listed(HANDLING)}) THEN p.due ELSE e.deadline END,
    parked_remaining_s = CASE WHEN p.state = 'parked' THEN 2 * 86400 END
  FROM picked p WHERE e.id = p.id
  RETURNING e.id, e.state, p.due
)
INSERT INTO case_clock AS k (case_id, due_at, escalate_at, due_warned, review_at)
SELECT id, CASE WHEN state = 'parked' THEN NULL ELSE due END,
       CASE WHEN state = 'parked' THEN NULL WHEN due > now() THEN due ELSE now() + interval '2 hours' END,
       state <> 'parked' AND due <= now() + interval '30 minutes',
       CASE WHEN state = 'parked' THEN due END
FROM moved
ON CONFLICT (case_id) DO UPDATE SET due_at = EXCLUDED.due_at, escalate_at = EXCLUDED.escalate_at,
                                     due_warned = EXCLUDED.due_warned, review_at = EXCLUDED.review_at
"""
# the handler's district and department: the pair with the most cases waiting to be handled (and visible to
# the department under row-level security: one of the case's departments)
BUSIEST = f"""
SELECT u.code, e.handling_department, count(*) FROM case_file e JOIN unit u ON u.id = e.units[2]
WHERE e.state IN ({_listed(BY_NAME["handle"].states)}) AND e.departments @> ARRAY[e.handling_department]
GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 1
"""


def shape_cases(engine: Engine, console: Console) -> dict[str, int]:
    """Spread the benchmark's open cases over the open states (see ``SHAPE``); cases per state."""
    with engine.begin() as conn:
        shaped = conn.execute(text(SHAPE), {"pattern": f"{PREFIX}-%", "fallback": "城市管理局"}).rowcount
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE case_file, case_clock")
        per_state: dict[str, int] = dict(conn.execute(text("SELECT state, count(*) FROM case_file GROUP BY 1")).all())
        overdue = conn.execute(
            text(
                "SELECT count(*) FROM case_file e LEFT JOIN case_clock k ON k.case_id = e.id "
                "WHERE e.state NOT IN ('closed', 'void') AND coalesce(k.due_at, e.deadline) < now()"
            )
        ).scalar_one()
    ordered = {s.value: int(per_state.get(s, 0)) for s in OPEN_STATES}
    console.print(f"shaped {shaped:,} benchmark cases over the open states; overdue now: {overdue:,}")
    console.print("open cases per state: " + ", ".join(f"{s} {n:,}" for s, n in ordered.items()))
    return ordered


# ---- the minimal app: the same SQL and driver, no middleware --------------------------------------
def minimal_app() -> FastAPI:
    """FastAPI with one pool of API-role connections and the queue and list SQL, nothing else.

    Its callers are fixed at start (``CITYOPS_BENCH_QUEUE_USERS``: ``who=username,…``); see ``bench.bare_app``.
    """
    zone = WorkingCalendar.china().zone
    bare = BareApp(dict(pair.split("=", 1) for pair in os.environ[USERS_ENV].split(",")), pool_size=8)
    app, users, scoped, json = bare.app, bare.users, bare.scoped, json_response

    @app.get("/q/{who}/{name}")
    async def items(who: str, name: str, limit: Annotated[int, Query()] = PAGE) -> Response:
        user = users[who]
        async with scoped(user) as conn:
            rows = await queue_items(conn, user, BY_NAME[name], limit, 0)
        return json({"queue": name, "items": [plain(row, zone) for row in rows]})

    @app.get("/counts/{who}")
    async def counts(who: str) -> Response:
        user = users[who]
        async with scoped(user) as conn:
            return json({"queues": await queue_counts(conn, user)})

    @app.get("/events/{who}")
    async def events(who: str, limit: Annotated[int, Query()] = PAGE) -> Response:
        user = users[who]
        async with scoped(user) as conn:
            return json(await list_cases(conn, ListFilter(user.unit_id, user.unit_depth, limit)))

    return app


# ---- measures ---------------------------------------------------------------------------------------
def _p(result: WrkResult) -> str:
    return f"{result.p50_ms:.1f} / {result.p99_ms:.1f}"


def bench_requests(
    base: str, bare: str, who: str, headers: dict[str, str], queues: tuple[str, ...], seconds: float, clients: int
) -> list[Row]:
    """Each queue page, the counts and the plain list: ours, the minimal app's, p50 / p99 ms."""

    def measure(url: str, path: str, auth: dict[str, str] | None) -> WrkResult:
        script = cycling_gets([path], auth)
        warm(url, script, clients, timeout_s=TIMEOUT_S)  # pools, caches and plans
        return run_wrk(url, script, clients, seconds, timeout_s=TIMEOUT_S)

    listed = measure(base, f"/api/v1/cases?limit={PAGE}", headers)
    bare_list = measure(bare, f"/events/{who}?limit={PAGE}", None)
    rows = [
        Row(
            f"{who}: GET /api/v1/cases?limit={PAGE} (the plain list), {clients} clients: p50 / p99 ms",
            _p(listed),
            f"{_p(bare_list)} minimal app, same SQL",
            listed.p99_ms / bare_list.p99_ms,
            "—",
        )
    ]
    for queue in queues:
        ours = measure(base, f"/api/v1/queues/{queue}?limit={PAGE}", headers)
        minimal = measure(bare, f"/q/{who}/{queue}?limit={PAGE}", None)
        rows += [
            Row(
                f"{who}: GET /api/v1/queues/{queue}?limit={PAGE}, {clients} clients: p50 / p99 ms "
                "(ratio: queue p99 / list p99)",
                _p(ours),
                f"{_p(listed)} plain list",
                ours.p99_ms / listed.p99_ms,
                "—",
            ),
            Row(
                f"{who}: the same, against the minimal app (ratio: ours p99 / minimal p99)",
                _p(ours),
                f"{_p(minimal)} minimal app, same SQL",
                ours.p99_ms / minimal.p99_ms,
                "—",
            ),
            Row(
                f"{who}: queue {queue} p99 against the {TARGET_P99_MS:.0f} ms target",
                f"{ours.p99_ms:.1f} ms",
                f"{TARGET_P99_MS:.0f} ms",
                TARGET_P99_MS / ours.p99_ms,
                "≥ 1",
            ),
        ]
    ours = measure(base, "/api/v1/queues", headers)
    minimal = measure(bare, f"/counts/{who}", None)
    rows.append(
        Row(
            f"{who}: GET /api/v1/queues (counts), {clients} clients: p50 / p99 ms (ratio: counts p99 / list p99)",
            _p(ours),
            f"{_p(listed)} plain list; {_p(minimal)} minimal app",
            ours.p99_ms / listed.p99_ms,
            "—",
        )
    )
    return rows


CARDS_READY = "document.readyState === 'complete' && document.querySelectorAll('#cards article.card').length > 0"
LIST_READY = "document.readyState === 'complete' && document.querySelectorAll('table.cases tbody tr').length > 0"


def bench_page(
    browser: Browser, base: str, who: str, username: str, queue: str, loads: int, console: Console
) -> list[Row]:
    """``/queue?q=queue`` against the plain case list page ``/cases``, the same caller's: navigation → the
    cards (rows) in the DOM and load fired; cold (a new context), warm (again); each page first in turn."""
    cookies = session_cookies(base, username)
    pages = {"queue": (f"/queue?q={queue}", CARDS_READY), "list": ("/cases", LIST_READY)}
    times: dict[tuple[str, str], list[float]] = {(name, warmth): [] for name in pages for warmth in ("cold", "warm")}
    for load in range(loads):
        for name in sorted(pages, reverse=bool(load % 2)):
            path, ready = pages[name]
            context = browser.new_context(viewport=VIEWPORT)
            context.add_cookies(cookies)
            page = context.new_page()
            for warmth in ("cold", "warm"):
                page.goto(f"{base}{path}")
                wait_until(page, ready)
                times[name, warmth].append(page.evaluate("performance.now()") / 1000)
            context.close()
    median = {key: statistics.median(seconds) for key, seconds in times.items()}
    console.print(
        f"{who}: /queue?q={queue} cold {median['queue', 'cold']:.2f} s, warm {median['queue', 'warm']:.2f} s; "
        f"/cases cold {median['list', 'cold']:.2f} s, warm {median['list', 'warm']:.2f} s"
    )
    return [
        Row(
            f"{who}: page /queue?q={queue} ready, cold (warm), median of {loads}",
            f"{median['queue', 'cold']:.2f} s ({median['queue', 'warm']:.2f} s)",
            f"{median['list', 'cold']:.2f} s ({median['list', 'warm']:.2f} s) the case list page",
            median["list", "cold"] / median["queue", "cold"],
            "—",
        ),
        Row(
            f"{who}: the same against the {TARGET_READY_S:.2f} s target, cold",
            f"{median['queue', 'cold']:.2f} s",
            f"{TARGET_READY_S:.2f} s",
            TARGET_READY_S / median["queue", "cold"],
            "≥ 1",
        ),
    ]


def explain(settings: StoreSettings, engine: Engine, username: str, queue: str, console: Console) -> None:
    """The plan of the queue's page SQL as the endpoint runs it: API role, the caller's scope, row-level security."""
    with engine.connect() as owner:
        user = get_user(owner, username)
    values = page_parameters(user, BY_NAME[queue], PAGE, 0)
    scoped = make_conninfo(libpq_url(settings, api=True), **session_options(settings, api=True))
    with psycopg.connect(scoped, autocommit=True) as conn:
        conn.execute(SESSION_SCOPE, (str(user.unit_id), user.department or ""))
        plan = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + ITEMS, values)]
    console.print(
        f"EXPLAIN (ANALYZE, BUFFERS) of queue {queue} for {username}, API role, row-level security "
        "(the per-state index walk runs inside cityops_queue_walk: auto_explain shows it):"
    )
    console.print("\n".join(plan), markup=False, highlight=False)


def _user_with_password(engine: Engine, role: str, unit: str, department: str | None) -> str:
    name = f"bench-queues-{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        create_user(conn, name, unit_code=unit, roles=[role], password=PASSWORD, department=department, actor="bench")
    return name


def run(
    settings: StoreSettings, *, cases: int, seconds: float, clients: int, loads: int, console: Console
) -> list[Row]:
    """Seed and shape, measure, print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        open_cases = ensure_cases(engine, cases, console, prefix=PREFIX, seed=67)
        per_state = shape_cases(engine, console)
        with engine.connect() as conn:
            district, department, waiting = conn.execute(text(BUSIEST)).one()
            city = conn.execute(text("SELECT code FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1")).scalar_one()
        console.print(
            f"data: {open_cases:,} open cases; handler: district {district}, department {department} "
            f"({waiting:,} cases to handle); commander: city {city}"
        )
        tag = hashlib.sha256(department.encode()).hexdigest()[:6]
        callers = {
            "handler": (
                bench_caller(
                    engine, f"bench-queues-handler-{district}-{tag}", ["department_handler"], district, department
                ),
                ("handle",),
                ("department_handler", district, department),
            ),
            "commander": (
                bench_caller(engine, "bench-queues-commander", ["city_commander"], city),
                ("intake", "dispatch"),
                ("city_commander", city, None),
            ),
        }
        keyed = {"handler": f"bench-queues-handler-{district}-{tag}", "commander": "bench-queues-commander"}
        rows: list[Row] = []
        minimal_env = {USERS_ENV: ",".join(f"{who}={name}" for who, name in keyed.items())}
        with (
            served(settings) as base,
            served(
                settings,
                ("uvicorn", "--factory", "bench.queues:minimal_app", "--log-level", "warning"),
                env=minimal_env,
            ) as bare,
            chromium() as browser,
        ):
            for who, (headers, queues, (role, unit, dept)) in callers.items():
                rows += bench_requests(base, bare, who, headers, queues, seconds, clients)
                page_user = _user_with_password(engine, role, unit, dept)
                rows += bench_page(browser, base, who, page_user, queues[0], loads, console)
        for who, (_, queues, _) in callers.items():  # a queue over its p99 target: why, in the plan
            for queue in queues:
                if any(r.measure.startswith(f"{who}: queue {queue} p99") and r.verdict == "missed" for r in rows):
                    explain(settings, engine, keyed[who], queue, console)
    finally:
        engine.dispose()
    console.print(f"cases per state: {per_state}")
    print_table(rows, console)
    return rows
