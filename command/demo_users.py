"""One demo user per role, in the demo unit, so every screen of the loop can be tried at once.

Driven by table ``role``: a role added by a later migration gets its demo user on the next
``cityops demo``. Each user sits in the tier its role works at (a grid worker in a grid of the
demo street, a community in that grid's community, street staff in the street, district command
in its district, city command, planners, auditors and administrators at the city). Passwords are
generated and shown once, when the users are created; production refuses to create them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, text

from command.users import create_user
from spatial.errors import InvalidInputError
from spatial.tiers import Tier

DEMO_STREET = "320102003"  # 新街口街道, 玄武区: the old city centre, many demo cases
PREFIX = "demo-"
CITY_ROLES = ("city_commander", "planner", "auditor", "admin", "integration", "tracker", "wall")
# the tier each role works at; any other role (street, dispatcher, checker, department_handler, a
# role added later) works in the demo street
TIERS = {
    "grid_worker": Tier.GRID,
    "field_force": Tier.GRID,
    "community": Tier.COMMUNITY,
    "district": Tier.DISTRICT,
    **dict.fromkeys(CITY_ROLES, Tier.CITY),
}
UNITS_SQL = """
SELECT s.code AS street, s.ancestors, g.code AS grid, c.code AS community,
       (SELECT code FROM unit WHERE id = s.ancestors[2]) AS district,
       (SELECT code FROM unit WHERE id = s.ancestors[1]) AS city
FROM unit s JOIN unit g ON g.ancestors @> ARRAY[s.id] AND g.tier = 'grid'
LEFT JOIN unit c ON c.id = g.parent_id AND c.tier = 'community'
WHERE s.code = :street ORDER BY g.code LIMIT 1
"""
# the department most of the demo street's cases are dispatched to (categories.csv, as routed)
DEPARTMENT_SQL = """
SELECT d FROM case_file e, unnest(e.departments) AS d
WHERE e.units @> ARRAY[(SELECT id FROM unit WHERE code = :street)] GROUP BY d ORDER BY count(*) DESC, d LIMIT 1
"""


@dataclass(frozen=True)
class DemoUser:
    """A demo login; ``password`` only when it was created by this run."""

    username: str
    role: str
    unit: str
    department: str | None
    password: str | None


def refuse_in_production(environment: str) -> None:
    """Demo logins with printed passwords have no place in a production service."""
    if environment == "production":
        raise InvalidInputError(
            "CITYOPS_ENVIRONMENT=production: demo users (known roles, printed passwords) "
            "are not created in production; create real users with `cityops user add`"
        )


def ensure_demo_users(conn: Connection, environment: str, *, actor: str, street: str = DEMO_STREET) -> list[DemoUser]:
    """A user ``demo-<role>`` for every role, created when missing (in development only)."""
    refuse_in_production(environment)
    places = conn.execute(text(UNITS_SQL), {"street": street}).mappings().one_or_none()
    if places is None:
        raise InvalidInputError(f"demo street {street} is not loaded (or has no grids): run `cityops demo`")
    department = conn.execute(text(DEPARTMENT_SQL), {"street": street}).scalar() or "城市管理局"
    force = conn.execute(text("SELECT code FROM force WHERE code = :c"), {"c": f"{places['grid']}-GW"}).scalar()
    users = []
    for role in conn.execute(text("SELECT name FROM role ORDER BY name")).scalars():
        username = PREFIX + role.replace("_", "-")
        unit = places[TIERS.get(role, Tier.STREET)] or places["street"]
        dept = department if role == "department_handler" else None
        if conn.execute(text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}).scalar():
            users.append(DemoUser(username, role, unit, dept, None))
            continue
        password = secrets.token_urlsafe(12)
        force_code = force if role == "field_force" else None
        create_user(
            conn,
            username,
            unit_code=unit,
            roles=[role],
            password=password,
            actor=actor,
            display_name=f"演示 {role}",
            department=dept,
            force_code=force_code,
        )
        users.append(DemoUser(username, role, unit, dept, password))
    return users
