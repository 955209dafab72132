"""search functions name what they call by schema, so a backup restores

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03

``cityops_grams`` (behind the gram indexes of units and addresses) and ``cityops_query_grams``
called ``cityops_squeeze`` by its bare name. pg_restore runs with an empty ``search_path`` (so a
dump cannot be hijacked by what a schema on the path holds), and building the indexes then
failed: "function cityops_squeeze(text) does not exist" — `cityops restore` could not restore
any backup. The calls now name ``public``; the bodies are otherwise the same, still plain SQL
that the planner inlines (a ``SET search_path`` clause would stop that), and the indexes stay
valid as their values do not change.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRAMS = """
CREATE OR REPLACE FUNCTION cityops_grams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- every character and every pair of neighbouring characters, lower-cased, once each; spaces
    -- ignored (「玄武区梅园」 finds 「玄武区 梅园新村街道」)
    SELECT coalesce(array_agg(DISTINCT substr(squeezed, i, n)), '{}')
    FROM {schema}cityops_squeeze(t) AS squeezed, generate_series(1, char_length(squeezed)) AS i,
         (VALUES (1), (2)) AS size(n)
    WHERE i + n - 1 <= char_length(squeezed)
$$;
CREATE OR REPLACE FUNCTION cityops_query_grams(q text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- what a row must hold to contain q: its pairs (its one character when q is one character)
    SELECT CASE WHEN char_length(squeezed) = 1 THEN ARRAY[squeezed]
                ELSE (SELECT coalesce(array_agg(DISTINCT substr(squeezed, i, 2)), '{}')
                      FROM generate_series(1, char_length(squeezed) - 1) AS i) END
    FROM {schema}cityops_squeeze(q) AS squeezed
$$;
"""


def upgrade() -> None:
    op.execute(GRAMS.replace("{schema}", "public."))


def downgrade() -> None:
    op.execute(GRAMS.replace("{schema}", ""))
