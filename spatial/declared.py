"""Database objects declared once each: every function, trigger, policy and view in its current form.

Migrations are history: ``cityops_audit`` was written three times in them, so no migration says what it
is now. Each object therefore lives in ONE file under the package that owns it —
``<package>/sql/functions/<name>.sql``, ``sql/triggers/<table>.<trigger>.sql``,
``sql/policies/<table>.<policy>.sql``, ``sql/views/<name>.sql`` — holding exactly what PostgreSQL prints
for it (``pg_get_functiondef``, ``pg_get_triggerdef``, ``pg_policies``, ``pg_get_viewdef``, plus grants),
so a file and the database compare as text.

To change an object, edit its file (or add/remove one) and let the difference write the migration::

    cityops schema revision -m "what changed and why"   # against the database at head
    cityops schema check                                # exit 1 when files and database differ

Both are Alembic's check and autogenerate underneath (the comparator below), so any Alembic entry point
sees the same differences. Tables are not compared — their migrations are written by hand (see
``spatial/migrations/env.py``). A generated migration is a draft like any other: read it, and where an
object others depend on must be dropped (a function's arguments changed under a trigger or policy),
order the statements by hand.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic.autogenerate import comparators, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import MigrateOperation, UpgradeOps
from sqlalchemy import Connection, text

#: the packages that own database objects, ground first; each keeps its own under ``sql/``
OWNERS = ("spatial", "grid", "forces", "command", "incidents", "sensing", "exchange", "api")
#: creation order (functions before what calls them); drops go the other way
KINDS = ("functions", "views", "triggers", "policies")
SINGULAR = {"functions": "function", "views": "view", "triggers": "trigger", "policies": "policy"}

#: how a declared text is executed (in migrations and tests): as is, several statements at once
NO_PARAMETERS = 'execution_options={"no_parameters": True}'
Key = tuple[str, str]  # (kind, name): name is "table.object" for triggers and policies


@dataclass(frozen=True)
class Declaration:
    """One object's current text, and the file that holds it."""

    kind: str
    name: str
    sql: str
    path: Path


def _sql_dir(package: str) -> Path:
    """A package's ``sql/`` folder, found without importing the package (no layer is crossed)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    return Path(next(iter(spec.submodule_search_locations))) / "sql"


def normalised(sql: str) -> str:
    """Text as compared: trailing spaces and blank lines do not count."""
    return "\n".join(line.rstrip() for line in sql.strip().splitlines()) + "\n"


def declared() -> dict[Key, Declaration]:
    """Every declared object, from every owner's ``sql/`` folder; a name declared twice is an error."""
    found: dict[Key, Declaration] = {}
    for package in OWNERS:
        for kind in KINDS:
            for path in sorted((_sql_dir(package) / kind).glob("*.sql")):
                key = (kind, path.stem)
                if key in found:
                    raise ValueError(f"{kind} {path.stem} is declared twice: {found[key].path} and {path}")
                found[key] = Declaration(kind, path.stem, normalised(path.read_text(encoding="utf-8")), path)
    return found


# ---- what the database holds, printed the way the files are written --------------------------------
_FUNCTIONS = text(r"""
    SELECT p.proname, pg_get_functiondef(p.oid), 'public.' || p.oid::regprocedure::text AS signature,
           p.proacl IS NOT NULL,
           array(SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
                 FROM aclexplode(p.proacl) AS a WHERE a.grantee <> p.proowner ORDER BY a.grantee <> 0, 1)
    FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname LIKE 'cityops\_%'
      AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.objid = p.oid AND d.deptype = 'e')
""")
_TRIGGERS = text("""
    SELECT c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
    FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgparentid = 0
""")
_POLICIES = text("""
    SELECT tablename || '.' || policyname, quote_ident(policyname), quote_ident(tablename), permissive, cmd,
           array(SELECT CASE r WHEN 'public' THEN 'PUBLIC' ELSE quote_ident(r) END FROM unnest(roles) AS r),
           qual, with_check
    FROM pg_policies WHERE schemaname = 'public'
""")
_VIEWS = text("""
    SELECT c.relname, c.relkind = 'm', pg_get_viewdef(c.oid),
           array(SELECT indexdef || ';' FROM pg_indexes AS i
                 WHERE i.schemaname = 'public' AND i.tablename = c.relname ORDER BY 1),
           array(SELECT quote_ident(pg_get_userbyid(a.grantee)) || ' '
                        || string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
                 FROM aclexplode(c.relacl) AS a WHERE a.grantee <> c.relowner GROUP BY a.grantee ORDER BY 1)
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
      AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.objid = c.oid AND d.deptype = 'e')
""")


def in_database(conn: Connection) -> dict[Key, str]:
    """Every object of the kinds declared that the database holds, as its file would say it."""
    found: dict[Key, str] = {}
    for name, definition, signature, restricted, grantees in conn.execute(_FUNCTIONS):
        grants = [f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;"] if restricted else []
        grants += [f"GRANT EXECUTE ON FUNCTION {signature} TO {grantee};" for grantee in grantees]
        found["functions", name] = normalised("\n".join([definition.rstrip() + ";", *grants]))
    for name, definition in conn.execute(_TRIGGERS):
        found["triggers", name] = normalised(definition + ";")
    for name, policy, table, permissive, cmd, roles, qual, with_check in conn.execute(_POLICIES):
        clauses = [f"CREATE POLICY {policy} ON public.{table} AS {permissive} FOR {cmd} TO {', '.join(roles)}"]
        clauses += [f"USING ({qual})"] if qual is not None else []
        clauses += [f"WITH CHECK ({with_check})"] if with_check is not None else []
        found["policies", name] = normalised("\n    ".join(clauses) + ";")
    for name, materialized, definition, indexes, grants in conn.execute(_VIEWS):
        head = f"CREATE {'MATERIALIZED VIEW' if materialized else 'OR REPLACE VIEW'} public.{name} AS"
        grant_lines = [
            f"GRANT {privileges} ON public.{name} TO {grantee};"
            for grantee, privileges in (grant.split(" ", 1) for grant in grants)
        ]
        found["views", name] = normalised("\n".join([head, definition, *indexes, *grant_lines]))
    return found


# ---- the difference, as statements -----------------------------------------------------------------
def _drop(kind: str, name: str, sql: str) -> str:
    """The statement that removes an object (names are unique: a function needs no argument list)."""
    if kind == "functions":
        return f"DROP FUNCTION public.{name};"
    if kind == "views":
        return f"DROP {'MATERIALIZED VIEW' if sql.startswith('CREATE MATERIALIZED') else 'VIEW'} public.{name};"
    table, thing = name.split(".", 1)
    return f"DROP {'TRIGGER' if kind == 'triggers' else 'POLICY'} {thing} ON public.{table};"


def _signature(sql: str) -> list[str]:
    """A function's name, arguments and result: what CREATE OR REPLACE cannot change in place."""
    return sql.split("\n LANGUAGE", 1)[0].splitlines()


def statements(kind: str, name: str, before: str | None, after: str | None) -> list[str]:
    """SQL taking one object from ``before`` to ``after`` (None: absent)."""
    if after is None:
        return [_drop(kind, name, before or "")] if before is not None else []
    if before is None:
        return [after]
    if kind == "functions" and _signature(before) == _signature(after):
        return [after]  # replaced in place: grants, and indexes and triggers that use it, stay
    return [_drop(kind, name, before), after]


class DeclaredObjectOp(MigrateOperation):
    """Alembic operation: one declared object going from the database's text to its file's."""

    def __init__(self, kind: str, name: str, before: str | None, after: str | None) -> None:
        self.kind, self.name, self.before, self.after = kind, name, before, after

    def reverse(self) -> DeclaredObjectOp:
        """The downgrade: from the file's text back to what the database held."""
        return DeclaredObjectOp(self.kind, self.name, self.after, self.before)

    def to_diff_tuple(self) -> tuple[str, str, str]:
        """What ``alembic check`` reports: ("change_function", name, the file's text) and the like."""
        change = "add" if self.before is None else "remove" if self.after is None else "change"
        return (f"{change}_{SINGULAR[self.kind]}", self.name, self.after or self.before or "")


def differences(conn: Connection) -> list[DeclaredObjectOp]:
    """What the migration must do so the database holds exactly the declared objects, in a safe order."""
    files = {key: declaration.sql for key, declaration in declared().items()}
    database = in_database(conn)
    changed = [key for key in files.keys() | database.keys() if files.get(key) != database.get(key)]
    changed.sort(key=lambda key: (KINDS.index(key[0]), key[1]))
    return [DeclaredObjectOp(kind, name, database.get((kind, name)), files.get((kind, name))) for kind, name in changed]


@comparators.dispatch_for("schema")
def _compare(autogen_context: AutogenContext, upgrade_ops: UpgradeOps, schemas: Iterable[str | None]) -> None:
    assert autogen_context.connection is not None
    upgrade_ops.ops.extend(differences(autogen_context.connection))


def execute(conn: Connection, sql: str) -> None:
    """Run a declared text (or a statement of a migration) as PostgreSQL would read it from a file."""
    conn.exec_driver_sql(sql, execution_options={"no_parameters": True})


def _literal(sql: str) -> str:
    """A statement as one Python literal per line: Alembic indents what it renders, which must not reach the SQL."""
    return "\n".join("    " + repr(line) for line in sql.splitlines(keepends=True))


@renderers.dispatch_for(DeclaredObjectOp)
def _render(autogen_context: AutogenContext, op: DeclaredObjectOp) -> str:
    # the driver's own execute, without parameters: a body's ":name" or "%" reaches PostgreSQL untouched
    # (text() would take ":name" for a bind parameter, and psycopg "%" for a placeholder)
    return "\n".join(
        f"op.get_bind().exec_driver_sql(\n{_literal(sql)},\n    {NO_PARAMETERS},\n)"
        for sql in statements(op.kind, op.name, op.before, op.after)
    )
