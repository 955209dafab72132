"""search: unit pinyin initials, character-gram indexes on names and addresses, generated addresses

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03

One search box finds cases by number, units by name (汉字 or pinyin initials), buildings by code and
cases by address text (``command.search``). What each needs from the store:

- **Names and addresses by any part** (``LIKE '%梅园%'``): pg_trgm cannot index Chinese here — the
  cluster is initialised without a locale, so every CJK character is "not a letter" and yields no
  trigram. ``cityops_grams`` splits a text into its characters and character pairs instead; a GIN
  index on that array finds the rows holding all pairs of the query (``cityops_query_grams``), and
  the ``LIKE`` rechecks order. A pair of 汉字 is selective (there are millions of them), so a
  query of two characters already reads few rows.
- **Pinyin initials** (玄武区 → ``xwq``): computed in Python (pypinyin, ``spatial.initials``) and
  stored in ``unit.initials`` — the common reading first, then the readings of single heteronyms
  (长干里 is read chang, pypinyin's first guess is zhang) — so the search is an indexed query.
  The initials are ASCII, which pg_trgm does index: a trigram GIN index answers "a word of
  ``initials`` starts with q". A renamed unit loses its initials (trigger) and the hierarchy
  loader fills every missing one after each load (``grid.load``), as it does for the chains.
- **Generated addresses**: a case stored without an address gets one from its place — 「南京市
  玄武区 梅园新村街道 梅园新村社区 第 1 网格 3 号楼」, the administrative chain of its grid
  (committee suffixes such as 居委会 dropped: an address names the place, not its committee), the
  grid's number, and the building when the point lies in one. A trigger sets it in the statement
  that inserts the case — every path that opens a case (intake, Open311, imports, splits) gets it
  in the same transaction, never as a later update. Existing cases are backfilled here, once.
  ``cityops_place_address(grid, NULL, 'community')`` is the coarse form Open311 publishes for
  sensitive categories, whose places are generalised anyway.
"""

from collections.abc import Sequence

from alembic import op

from spatial.initials import fill_initials

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# what an address keeps of a community's name: the place (梅园新村社区), not its committee (居委会)
COMMITTEE = "(居民委员会|村民委员会|居委会|村委会)$"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("""
    CREATE FUNCTION cityops_squeeze(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        -- what search compares: no spaces (ASCII, full-width, tabs, line breaks), lower case
        SELECT translate(lower(t), E' \u3000\t\r\n', '')
    $$;
    CREATE FUNCTION cityops_grams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        -- every character and every pair of neighbouring characters, lower-cased, once each; spaces
        -- ignored (「玄武区梅园」 finds 「玄武区 梅园新村街道」)
        SELECT coalesce(array_agg(DISTINCT substr(squeezed, i, n)), '{}')
        FROM cityops_squeeze(t) AS squeezed, generate_series(1, char_length(squeezed)) AS i, (VALUES (1), (2)) AS size(n)
        WHERE i + n - 1 <= char_length(squeezed)
    $$;
    CREATE FUNCTION cityops_query_grams(q text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        -- what a row must hold to contain q: its pairs (its one character when q is one character)
        SELECT CASE WHEN char_length(squeezed) = 1 THEN ARRAY[squeezed]
                    ELSE (SELECT coalesce(array_agg(DISTINCT substr(squeezed, i, 2)), '{}')
                          FROM generate_series(1, char_length(squeezed) - 1) AS i) END
        FROM cityops_squeeze(q) AS squeezed
    $$;
    CREATE INDEX ix_event_address_grams ON event USING gin (cityops_grams(address));
    -- names by tier group (command.search ranks the few areas whole, grids and buildings by sample)
    CREATE INDEX ix_unit_area_name_grams ON unit USING gin (cityops_grams(name)) WHERE tier < 'grid';
    CREATE INDEX ix_unit_grid_name_grams ON unit USING gin (cityops_grams(name)) WHERE tier = 'grid';
    CREATE INDEX ix_unit_building_name_grams ON unit USING gin (cityops_grams(name)) WHERE tier = 'building';

    ALTER TABLE unit ADD COLUMN initials text;
    COMMENT ON COLUMN unit.initials IS
        'pinyin initials of the name, readings separated by spaces (spatial.initials); NULL: to be filled';
    CREATE INDEX ix_unit_initials ON unit USING gin (initials gin_trgm_ops);
    CREATE FUNCTION cityops_unit_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.initials := NULL;  -- the loader fills it again from the new name
        RETURN NEW;
    END $$;
    CREATE TRIGGER unit_renamed BEFORE UPDATE OF name ON unit FOR EACH ROW
        WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION cityops_unit_renamed();
    """)
    fill_initials(op.get_bind())
    op.execute(f"""
    CREATE FUNCTION cityops_place_address(grid bigint, point geometry, finest text DEFAULT 'building')
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    -- The place of a point in words, from the chain of its grid down to tier ``finest``; the
    -- building only with a point. Administrative units only: an address names 浦口区, not 江北新区.
    DECLARE
        words text[] := '{{}}';
        unit json;
        parent text := '';
        building json;
    BEGIN
        FOR unit IN SELECT value FROM unit g, json_array_elements(g.chain) WHERE g.id = grid LOOP
            CONTINUE WHEN unit->>'kind' <> 'administrative' OR unit->>'tier' = 'building';
            EXIT WHEN (unit->>'tier')::tier > finest::tier;
            words := words || CASE unit->>'tier'
                WHEN 'community' THEN regexp_replace(unit->>'name', '{COMMITTEE}', '')
                WHEN 'grid' THEN regexp_replace(cityops_name_below(unit->>'name', parent),
                                                '^第\\s*(\\d+)\\s*网格$', '第 \\1 网格')
                ELSE unit->>'name' END;
            parent := unit->>'name';
        END LOOP;
        IF point IS NOT NULL AND finest = 'building' THEN
            building := cityops_building_at(grid, ST_X(point), ST_Y(point))::json;
            IF building IS NOT NULL THEN
                words := words || regexp_replace(cityops_name_below(building->>'name', parent),
                                                 '^(\\d+)\\s*号楼$', '\\1 号楼');
            END IF;
        END IF;
        RETURN nullif(array_to_string(words, ' '), '');
    END $$;
    """)
    op.execute("""
    CREATE FUNCTION cityops_name_below(name text, parent text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        -- a unit named after its parent (梅园新村社区居委会第1网格) by what it adds (第1网格)
        SELECT CASE WHEN parent <> '' AND starts_with(name, parent) AND char_length(name) > char_length(parent)
                    THEN substr(name, char_length(parent) + 1) ELSE name END
    $$;
    CREATE FUNCTION cityops_event_address() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.address := cityops_place_address(NEW.grid_id, NEW.geom);
        RETURN NEW;
    END $$;
    CREATE TRIGGER event_address BEFORE INSERT ON event FOR EACH ROW
        WHEN (coalesce(btrim(NEW.address), '') = '') EXECUTE FUNCTION cityops_event_address();
    UPDATE event SET address = cityops_place_address(grid_id, geom) WHERE coalesce(btrim(address), '') = '';
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER event_address ON event;
    DROP FUNCTION cityops_event_address();
    DROP FUNCTION cityops_place_address(bigint, geometry, text);
    DROP FUNCTION cityops_name_below(text, text);
    DROP TRIGGER unit_renamed ON unit;
    DROP FUNCTION cityops_unit_renamed();
    ALTER TABLE unit DROP COLUMN initials;
    DROP INDEX ix_unit_area_name_grams, ix_unit_grid_name_grams, ix_unit_building_name_grams;
    DROP INDEX ix_event_address_grams;
    DROP FUNCTION cityops_query_grams(text);
    DROP FUNCTION cityops_grams(text);
    DROP FUNCTION cityops_squeeze(text);
    """)
