"""The collections ``/ogc`` serves: each tier of the hierarchy, cases, and forces.

Each collection is fixed SQL over one table aliased ``t``: the feature as JSON built by PostGIS
(``{geometry}`` becomes its geometry in the CRS a request names, see api/ogc/crs.py), the time
column ``datetime`` filters on, and the properties a client may filter by (queryables). Nothing
of a request is spliced in: values are bound by name, a CRS is one of a fixed few.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api.ogc.crs import Crs
from spatial.tiers import Tier

UNIT_FEATURE = """json_build_object('type', 'Feature', 'id', t.code, 'geometry', {geometry}::json,
    'properties', json_build_object('code', t.code, 'name', t.name, 'tier', t.tier, 'kind', t.kind,
        'synthetic', t.synthetic, 'area_km2', round((t.area_m2 / 1e6)::numeric, 4),
        'boundary_version', t.boundary_version_id))::text"""
CASE_FEATURE = """json_build_object('type', 'Feature', 'id', t.id::text, 'geometry', {geometry}::json,
    'properties', json_build_object('category', t.category_code, 'severity', t.severity, 'state', t.state,
        'responsible', (SELECT code FROM unit WHERE id = t.responsible_unit_id), 'departments', t.departments,
        'filed_at', t.filed_at, 'deadline', t.deadline, 'report_count', t.report_count,
        'description', t.description, 'address', t.address))::text"""
FORCE_FEATURE = """json_build_object('type', 'Feature', 'id', t.id::text, 'geometry', {geometry}::json,
    'properties', json_build_object('code', t.code, 'name', t.name, 'kind', t.kind, 'status', t.status,
        'unit', (SELECT code FROM unit WHERE id = t.unit_id), 'department', t.department,
        'capabilities', t.capabilities, 'fixed_at', p.fixed_at))::text"""


@dataclass(frozen=True)
class Collection:
    """One feature collection and how to read it."""

    id: str
    title: str
    description: str
    source: str  # FROM … (alias t), joins included
    feature: str  # SQL of the feature as GeoJSON text; {geometry} stands for the geometry's GeoJSON
    key: str  # the column a feature id is, as text
    in_box: str  # the rows inside {box}, by an index (under row-level security: see migration 0016)
    time: str | None = None
    where: str = "true"
    queryables: dict[str, str] = field(default_factory=dict)  # name → SQL comparing to %(name)s
    permission: str | None = None  # None: public
    scoped: bool = False  # read with the caller's scope (row-level security)
    geom: str = "t.geom"  # the geometry column (SRID 4326)

    def feature_in(self, crs: Crs) -> str:
        """SQL of the feature as GeoJSON text with its geometry in ``crs``."""
        return self.feature.replace("{geometry}", crs.geojson(self.geom))


UNITS = {
    f"units-{tier.value}": Collection(
        f"units-{tier.value}",
        f"{tier.value} units",
        f"The {tier.value} tier of the city's hierarchy (public).",
        "unit t",
        UNIT_FEATURE,
        "t.code",
        "t.geom && {box}",
        where=f"t.tier = '{tier.value}'",
        queryables={
            "code": "t.code = %(code)s",
            "parent": "(SELECT code FROM unit WHERE id = t.parent_id) = %(parent)s",
        },
    )
    for tier in Tier
}
CASES = Collection(
    "cases",
    "cases",
    "Cases of the caller's jurisdiction (cases:read); datetime filters on filing time.",
    "case_file t",
    CASE_FEATURE,
    "t.id::text",
    "t.id IN (SELECT cityops_cases_in_box({box}))",
    time="t.filed_at",
    where="t.units @> ARRAY[%(scope)s::bigint]",
    queryables={
        "state": "t.state = %(state)s",
        "open": "(t.state NOT IN ('closed', 'void'))::text = %(open)s",
        "category": "t.category_code = %(category)s",
        "severity": "t.severity::text = %(severity)s",
    },
    permission="cases:read",
    scoped=True,
)
FORCES = Collection(
    "forces",
    "forces",
    "Tracked forces of the caller's jurisdiction (forces:read); datetime filters on the last fix.",
    "force t JOIN force_position p ON p.force_id = t.id",
    FORCE_FEATURE,
    "t.id::text",
    "t.id IN (SELECT cityops_forces_in_box({box}))",
    time="p.fixed_at",
    where="t.units @> ARRAY[%(scope)s::bigint]",
    queryables={"status": "t.status::text = %(status)s", "kind": "t.kind::text = %(kind)s"},
    permission="forces:read",
    scoped=True,
    geom="p.geom",
)
COLLECTIONS: dict[str, Collection] = {**UNITS, "cases": CASES, "forces": FORCES}
