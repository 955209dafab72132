"""ingest moves the latest positions in force order (no hash join)

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-04

Two batches of positions for overlapping forces deadlocked (1 s of ``deadlock_timeout``, then a
409 for one of them) when ``cityops_ingest_fixes``' UPDATE was planned as a hash join: each
locks rows in the order its scan meets them, and a row moved by a third batch sits elsewhere for
a later snapshot. Without hash joins the UPDATE walks the batch's forces in order (a nested loop
or a merge join), so every batch locks in one order. Locking the rows first (``SELECT … ORDER BY
force_id FOR UPDATE``) did the same at 40 % of the throughput: a lock writes every row once more.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_ingest_fixes(codes text[], lons double precision[], lats double precision[], cells bigint[], times timestamp with time zone[], speeds real[], headings real[], accuracies real[])\n"
        " RETURNS TABLE(unknown text[], stored bigint, moved bigint)\n"
        " LANGUAGE sql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        " SET enable_hashjoin TO 'off'\n"
        "AS $function$\n"
        "        WITH fix AS (\n"
        "            SELECT n.*, f.id AS force_id, f.status, f.capabilities, f.units, f.unit_id, f.shift_start, f.shift_end\n"
        "            FROM unnest(codes, lons, lats, cells, times, speeds, headings, accuracies)\n"
        "                 AS n(code, lon, lat, cell, fixed_at, speed, heading, accuracy)\n"
        "            LEFT JOIN force f ON f.code = n.code AND f.units @> ARRAY[cityops_scope_unit()]\n"
        "                AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department())\n"
        "        ), history AS (\n"
        "            INSERT INTO force_fix (force_id, fixed_at, geom, cell, speed, heading, accuracy)\n"
        "            SELECT force_id, fixed_at, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, speed, heading, accuracy\n"
        "            FROM fix WHERE force_id IS NOT NULL\n"
        "            ON CONFLICT DO NOTHING\n"
        "            RETURNING 1\n"
        "        ), newest AS (\n"
        "            SELECT DISTINCT ON (force_id) *\n"
        "            FROM fix WHERE force_id IS NOT NULL ORDER BY force_id, fixed_at DESC\n"
        "        ), moved AS (  -- an UPDATE: the upsert ran force_position's BEFORE INSERT trigger for every tracked force.\n"
        "            -- Rows are locked in force order (newest's), by a nested loop or a merge join: a hash join locks them\n"
        "            -- in scan order, which differs between snapshots once rows have moved, and two batches deadlocked\n"
        "            UPDATE force_position AS p\n"
        "            SET geom = ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326), cell = n.cell, fixed_at = n.fixed_at,\n"
        "                speed = n.speed, heading = n.heading, accuracy = n.accuracy, received_at = now()\n"
        "            FROM newest n\n"
        "            WHERE p.force_id = n.force_id AND p.fixed_at < n.fixed_at\n"
        "            RETURNING p.force_id\n"
        "        ), placed AS (  -- a force's first position (placed meanwhile by a concurrent batch: then an update)\n"
        "            INSERT INTO force_position AS p (force_id, geom, cell, fixed_at, speed, heading, accuracy,\n"
        "                                             status, capabilities, units, unit_id, shift_start, shift_end)\n"
        "            SELECT force_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, fixed_at,\n"
        "                   speed, heading, accuracy, status, capabilities, units, unit_id, shift_start, shift_end\n"
        "            FROM newest n WHERE NOT EXISTS (SELECT FROM force_position q WHERE q.force_id = n.force_id)\n"
        "            ON CONFLICT (force_id) DO UPDATE\n"
        "                SET geom = EXCLUDED.geom, cell = EXCLUDED.cell, fixed_at = EXCLUDED.fixed_at,\n"
        "                    speed = EXCLUDED.speed, heading = EXCLUDED.heading, accuracy = EXCLUDED.accuracy,\n"
        "                    received_at = now()\n"
        "                WHERE p.fixed_at < EXCLUDED.fixed_at\n"
        "            RETURNING p.force_id\n"
        "        ), latest AS (\n"
        "            SELECT force_id FROM moved UNION ALL SELECT force_id FROM placed\n"
        "        ), announced AS (  -- NOTIFY payloads stay far below 8000 bytes: 400 ids a message\n"
        "            SELECT pg_notify('cityops_positions', string_agg(force_id::text, ',')) FROM (\n"
        "                SELECT force_id, (row_number() OVER ()) / 400 AS chunk FROM latest\n"
        "            ) c GROUP BY chunk\n"
        "        )\n"
        "        SELECT ARRAY(SELECT DISTINCT code FROM fix WHERE force_id IS NULL ORDER BY code),\n"
        "               (SELECT count(*) FROM history), (SELECT count(*) FROM latest) + 0 * (SELECT count(*) FROM announced)\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_ingest_fixes(codes text[], lons double precision[], lats double precision[], cells bigint[], times timestamp with time zone[], speeds real[], headings real[], accuracies real[])\n"
        " RETURNS TABLE(unknown text[], stored bigint, moved bigint)\n"
        " LANGUAGE sql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "        WITH fix AS (\n"
        "            SELECT n.*, f.id AS force_id, f.status, f.capabilities, f.units, f.unit_id, f.shift_start, f.shift_end\n"
        "            FROM unnest(codes, lons, lats, cells, times, speeds, headings, accuracies)\n"
        "                 AS n(code, lon, lat, cell, fixed_at, speed, heading, accuracy)\n"
        "            LEFT JOIN force f ON f.code = n.code AND f.units @> ARRAY[cityops_scope_unit()]\n"
        "                AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department())\n"
        "        ), history AS (\n"
        "            INSERT INTO force_fix (force_id, fixed_at, geom, cell, speed, heading, accuracy)\n"
        "            SELECT force_id, fixed_at, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, speed, heading, accuracy\n"
        "            FROM fix WHERE force_id IS NOT NULL\n"
        "            ON CONFLICT DO NOTHING\n"
        "            RETURNING 1\n"
        "        ), newest AS (\n"
        "            SELECT DISTINCT ON (force_id) *\n"
        "            FROM fix WHERE force_id IS NOT NULL ORDER BY force_id, fixed_at DESC\n"
        "        ), moved AS (  -- an UPDATE: the upsert ran force_position's BEFORE INSERT trigger for every tracked force\n"
        "            UPDATE force_position AS p\n"
        "            SET geom = ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326), cell = n.cell, fixed_at = n.fixed_at,\n"
        "                speed = n.speed, heading = n.heading, accuracy = n.accuracy, received_at = now()\n"
        "            FROM newest n\n"
        "            WHERE p.force_id = n.force_id AND p.fixed_at < n.fixed_at\n"
        "            RETURNING p.force_id\n"
        "        ), placed AS (  -- a force's first position (placed meanwhile by a concurrent batch: then an update)\n"
        "            INSERT INTO force_position AS p (force_id, geom, cell, fixed_at, speed, heading, accuracy,\n"
        "                                             status, capabilities, units, unit_id, shift_start, shift_end)\n"
        "            SELECT force_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, fixed_at,\n"
        "                   speed, heading, accuracy, status, capabilities, units, unit_id, shift_start, shift_end\n"
        "            FROM newest n WHERE NOT EXISTS (SELECT FROM force_position q WHERE q.force_id = n.force_id)\n"
        "            ON CONFLICT (force_id) DO UPDATE\n"
        "                SET geom = EXCLUDED.geom, cell = EXCLUDED.cell, fixed_at = EXCLUDED.fixed_at,\n"
        "                    speed = EXCLUDED.speed, heading = EXCLUDED.heading, accuracy = EXCLUDED.accuracy,\n"
        "                    received_at = now()\n"
        "                WHERE p.fixed_at < EXCLUDED.fixed_at\n"
        "            RETURNING p.force_id\n"
        "        ), latest AS (\n"
        "            SELECT force_id FROM moved UNION ALL SELECT force_id FROM placed\n"
        "        ), announced AS (  -- NOTIFY payloads stay far below 8000 bytes: 400 ids a message\n"
        "            SELECT pg_notify('cityops_positions', string_agg(force_id::text, ',')) FROM (\n"
        "                SELECT force_id, (row_number() OVER ()) / 400 AS chunk FROM latest\n"
        "            ) c GROUP BY chunk\n"
        "        )\n"
        "        SELECT ARRAY(SELECT DISTINCT code FROM fix WHERE force_id IS NULL ORDER BY code),\n"
        "               (SELECT count(*) FROM history), (SELECT count(*) FROM latest) + 0 * (SELECT count(*) FROM announced)\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )
