"""the daily partitions are made by one caller at a time

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-04

A writer meeting a day without its partition makes the days while the maintenance loop may be making
them too: both saw the day missing and the second failed with ``relation … already exists`` (a 500 to a
gateway). ``cityops_daily_partitions`` now takes a transaction advisory lock per history first.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_daily_partitions(parent regclass, keep interval, ahead integer DEFAULT 2)\n"
        " RETURNS TABLE(created integer, dropped integer)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- a history kept by UTC day (force fixes, sensor readings): the days from retention to `ahead` days on\n"
        "    -- exist as partitions `<parent>_YYYYMMDD`, older ones are dropped whole (a DROP, not a DELETE: no bloat, no\n"
        "    -- vacuum). Callable only through each history's own function: it drops tables. Two callers at once (the\n"
        "    -- maintenance loop, a writer meeting a missing day) take turns on the history's lock: the second finds the days made\n"
        "    DECLARE\n"
        "        today date := (now() AT TIME ZONE 'UTC')::date;\n"
        "        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;\n"
        "        name text := parent::text;\n"
        "        day date;\n"
        "        part record;\n"
        "    BEGIN\n"
        "        created := 0; dropped := 0;\n"
        "        PERFORM pg_advisory_xact_lock(hashtext('cityops_daily_partitions'), hashtext(name));\n"
        "        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP\n"
        "            IF to_regclass(format('%s_%s', name, to_char(day, 'YYYYMMDD'))) IS NULL THEN\n"
        "                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',\n"
        "                               format('%s_%s', name, to_char(day, 'YYYYMMDD')), name,\n"
        "                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');\n"
        "                created := created + 1;\n"
        "            END IF;\n"
        "        END LOOP;\n"
        "        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n"
        "                    WHERE i.inhparent = parent  -- (the guard: the planner may test any relname)\n"
        "                      AND CASE WHEN c.relname ~ ('^' || name || '_[0-9]{8}$')\n"
        "                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP\n"
        "            EXECUTE format('DROP TABLE %I', part.relname);\n"
        "            dropped := dropped + 1;\n"
        "        END LOOP;\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_daily_partitions(regclass,interval,integer) FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_daily_partitions(parent regclass, keep interval, ahead integer DEFAULT 2)\n"
        " RETURNS TABLE(created integer, dropped integer)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- a history kept by UTC day (force fixes, sensor readings): the days from retention to `ahead` days on\n"
        "    -- exist as partitions `<parent>_YYYYMMDD`, older ones are dropped whole (a DROP, not a DELETE: no bloat, no\n"
        "    -- vacuum). Callable only through each history's own function: it drops tables\n"
        "    DECLARE\n"
        "        today date := (now() AT TIME ZONE 'UTC')::date;\n"
        "        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;\n"
        "        name text := parent::text;\n"
        "        day date;\n"
        "        part record;\n"
        "    BEGIN\n"
        "        created := 0; dropped := 0;\n"
        "        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP\n"
        "            IF to_regclass(format('%s_%s', name, to_char(day, 'YYYYMMDD'))) IS NULL THEN\n"
        "                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',\n"
        "                               format('%s_%s', name, to_char(day, 'YYYYMMDD')), name,\n"
        "                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');\n"
        "                created := created + 1;\n"
        "            END IF;\n"
        "        END LOOP;\n"
        "        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n"
        "                    WHERE i.inhparent = parent  -- (the guard: the planner may test any relname)\n"
        "                      AND CASE WHEN c.relname ~ ('^' || name || '_[0-9]{8}$')\n"
        "                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP\n"
        "            EXECUTE format('DROP TABLE %I', part.relname);\n"
        "            dropped := dropped + 1;\n"
        "        END LOOP;\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_daily_partitions(regclass,interval,integer) FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
