"""one daily-partition function for both histories (force fixes, sensor readings)

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-04

``cityops_force_fix_partitions`` and ``cityops_observation_partitions`` were one loop written twice with
another table's name. Now ``cityops_daily_partitions(parent, keep, ahead)`` keeps any history by UTC day
and the two are thin wrappers, each granted to the API role for its own table only (the general function
drops tables: nobody but its owner may call it directly).
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
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
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_force_fix_partitions(keep interval, ahead integer DEFAULT 2)\n"
        " RETURNS TABLE(created integer, dropped integer)\n"
        " LANGUAGE sql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- the position history's days (cityops_daily_partitions)\n"
        "    SELECT * FROM cityops_daily_partitions('force_fix', keep, ahead)\n"
        "$function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_force_fix_partitions(interval,integer) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_force_fix_partitions(interval,integer) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_observation_partitions(keep interval, ahead integer DEFAULT 2)\n"
        " RETURNS TABLE(created integer, dropped integer)\n"
        " LANGUAGE sql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- the readings' days (cityops_daily_partitions); their minute rollups go with them, hour rollups stay\n"
        "    DELETE FROM observation_minute WHERE minute < ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC';\n"
        "    SELECT * FROM cityops_daily_partitions('observation', keep, ahead)\n"
        "$function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_observation_partitions(interval,integer) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_observation_partitions(interval,integer) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_observation_partitions(keep interval, ahead integer DEFAULT 2)\n"
        " RETURNS TABLE(created integer, dropped integer)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- readings are kept by UTC day: the days from retention to `ahead` days on exist, older ones are dropped\n"
        "    -- whole (a DROP, not a DELETE: no bloat, no vacuum); minute rollups go with them, hour rollups stay\n"
        "    DECLARE\n"
        "        today date := (now() AT TIME ZONE 'UTC')::date;\n"
        "        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;\n"
        "        day date;\n"
        "        part record;\n"
        "    BEGIN\n"
        "        created := 0; dropped := 0;\n"
        "        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP\n"
        "            IF to_regclass(format('observation_%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN\n"
        "                EXECUTE format('CREATE TABLE %I PARTITION OF observation FOR VALUES FROM (%L) TO (%L)',\n"
        "                               format('observation_%s', to_char(day, 'YYYYMMDD')),\n"
        "                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');\n"
        "                created := created + 1;\n"
        "            END IF;\n"
        "        END LOOP;\n"
        "        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n"
        "                    WHERE i.inhparent = 'observation'::regclass  -- (the guard: the planner may test any relname)\n"
        "                      AND CASE WHEN c.relname ~ '^observation_[0-9]{8}$'\n"
        "                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP\n"
        "            EXECUTE format('DROP TABLE %I', part.relname);\n"
        "            dropped := dropped + 1;\n"
        "        END LOOP;\n"
        "        DELETE FROM observation_minute WHERE minute < first_day::timestamp AT TIME ZONE 'UTC';\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_observation_partitions(interval,integer) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_observation_partitions(interval,integer) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_force_fix_partitions(keep interval, ahead integer DEFAULT 2)\n"
        " RETURNS TABLE(created integer, dropped integer)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    DECLARE\n"
        "        today date := (now() AT TIME ZONE 'UTC')::date;\n"
        "        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;\n"
        "        day date;\n"
        "        part record;\n"
        "    BEGIN\n"
        "        created := 0; dropped := 0;\n"
        "        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP\n"
        "            IF to_regclass(format('force_fix_%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN\n"
        "                EXECUTE format('CREATE TABLE %I PARTITION OF force_fix FOR VALUES FROM (%L) TO (%L)',\n"
        "                               format('force_fix_%s', to_char(day, 'YYYYMMDD')),\n"
        "                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');\n"
        "                created := created + 1;\n"
        "            END IF;\n"
        "        END LOOP;\n"
        "        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n"
        "                    WHERE i.inhparent = 'force_fix'::regclass  -- (the guard: the planner may test any relname)\n"
        "                      AND CASE WHEN c.relname ~ '^force_fix_[0-9]{8}$'\n"
        "                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP\n"
        "            EXECUTE format('DROP TABLE %I', part.relname);\n"
        "            dropped := dropped + 1;\n"
        "        END LOOP;\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_force_fix_partitions(interval,integer) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_force_fix_partitions(interval,integer) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_daily_partitions;",
        execution_options={"no_parameters": True},
    )
