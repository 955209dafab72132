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
  that inserts the case — every path that files a case (intake, Open311, splits) gets it in the
  same transaction, never as a later update. An import's cases are filled set-based instead
  (``cityops_fill_addresses``: a grid's words built once for all its cases; a row trigger would
  triple a bulk import's time); existing cases are filled here, once.
  ``cityops_grid_address(grid, 'community')`` is the coarse form Open311 publishes for sensitive
  categories, whose places are generalised anyway.
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
        FROM cityops_squeeze(t) AS squeezed, generate_series(1, char_length(squeezed)) AS i,
             (VALUES (1), (2)) AS size(n)
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
    CREATE FUNCTION cityops_cases_by_address(q text, pattern text, candidates int)
    RETURNS TABLE (id bigint, squeezed text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        -- Cases in the caller's scope whose address contains q (``pattern``: squeezed, LIKE-escaped,
        -- within %). As the owner, applying the case policy's own predicate (migration 0010) like
        -- cityops_cases_in_box (0016): under row-level security the grams index cannot answer (array
        -- containment is not leakproof), and every case's grams would be computed instead. Planned
        -- at each call with q known (EXECUTE), so the index is chosen for rare and common words alike.
        RETURN QUERY EXECUTE '
            SELECT e.id, s FROM event e, cityops_squeeze(e.address) AS s
            WHERE cityops_grams(e.address) @> cityops_query_grams($1) AND s LIKE cityops_squeeze($2)
              AND e.units @> ARRAY[cityops_scope_unit()]
              AND (cityops_scope_department() IS NULL OR e.departments @> ARRAY[cityops_scope_department()])
            LIMIT $3' USING q, pattern, candidates;
    END $$;
    CREATE FUNCTION cityops_units_by_name(q text, pattern text, tiers text, candidates int)
    RETURNS TABLE (id bigint, name text, tier tier, squeezed text) LANGUAGE plpgsql STABLE AS $$
    BEGIN
        -- Units of a tier group (areas: city … community; grids; buildings) whose name contains q, from
        -- the group's own index. Planned at each call with q known (EXECUTE): a plan cached for any q
        -- may scan every name of a group instead (江宁 matches hundreds of areas and thousands of grids).
        RETURN QUERY EXECUTE format('
            SELECT u.id, u.name, u.tier, s FROM unit u, cityops_squeeze(u.name) AS s
            WHERE %s AND cityops_grams(u.name) @> cityops_query_grams($1) AND s LIKE cityops_squeeze($2)
            LIMIT $3', CASE tiers WHEN 'areas' THEN 'u.tier < ''grid''' WHEN 'grids' THEN 'u.tier = ''grid'''
                                  ELSE 'u.tier = ''building''' END) USING q, pattern, candidates;
    END $$;
    REVOKE EXECUTE ON FUNCTION cityops_cases_by_address(text, text, int) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_cases_by_address(text, text, int) TO cityops_api;
    -- names by tier group (command.search ranks the few areas whole, grids and buildings by sample)
    CREATE INDEX ix_unit_area_name_grams ON unit USING gin (cityops_grams(name)) WHERE tier < 'grid';
    CREATE INDEX ix_unit_grid_name_grams ON unit USING gin (cityops_grams(name)) WHERE tier = 'grid';
    CREATE INDEX ix_unit_building_name_grams ON unit USING gin (cityops_grams(name)) WHERE tier = 'building';

    -- what a found area is outlined with: districts and the city have thousands of vertices, too many
    -- to simplify per search; kept by a trigger whenever a boundary is loaded (grids and buildings: as they are)
    ALTER TABLE unit ADD COLUMN outline geometry(Geometry, 4326);
    CREATE FUNCTION cityops_unit_outline() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.outline := CASE WHEN NEW.tier < 'grid' THEN ST_Simplify(NEW.geom, greatest(
            ST_XMax(NEW.geom) - ST_XMin(NEW.geom), ST_YMax(NEW.geom) - ST_YMin(NEW.geom)) / 400, true) END;
        RETURN NEW;
    END $$;
    CREATE TRIGGER unit_outline BEFORE INSERT OR UPDATE OF geom, tier ON unit FOR EACH ROW
        EXECUTE FUNCTION cityops_unit_outline();
    UPDATE unit SET geom = geom WHERE tier < 'grid';

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
    CREATE FUNCTION cityops_name_below(name text, parent text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        -- a unit named after its parent (梅园新村社区居委会第1网格) by what it adds (第1网格)
        SELECT CASE WHEN parent <> '' AND starts_with(name, parent) AND char_length(name) > char_length(parent)
                    THEN substr(name, char_length(parent) + 1) ELSE name END
    $$;
    CREATE FUNCTION cityops_grid_address(grid bigint, finest text DEFAULT 'grid')
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    -- The place of a grid in words, from the city down to tier ``finest``. Administrative units
    -- only: an address names 浦口区, not the management unit 江北新区 over it.
    DECLARE
        words text[] := '{{}}';
        unit json;
        parent text := '';
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
        RETURN nullif(array_to_string(words, ' '), '');
    END $$;
    CREATE FUNCTION cityops_building_words(grid bigint, point geometry)
    RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
        -- the building of the grid the point lies in, by what its name adds to the grid's (3号楼 → 3 号楼)
        SELECT regexp_replace(cityops_name_below(b.building->>'name', g.name), '^(\\d+)\\s*号楼$', '\\1 号楼')
        FROM unit g, LATERAL (SELECT cityops_building_at(g.id, ST_X(point), ST_Y(point))::json AS building) AS b
        WHERE g.id = grid AND g.has_buildings AND b.building IS NOT NULL
    $$;
    CREATE FUNCTION cityops_place_address(grid bigint, point geometry) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT nullif(concat_ws(' ', cityops_grid_address(grid), cityops_building_words(grid, point)), '')
    $$;
    CREATE FUNCTION cityops_fill_addresses() RETURNS bigint LANGUAGE sql AS $$
        -- every case without an address gets its place's, set-based: a grid's words are built once for
        -- all its cases (an import of 100,000 cases touches ~10,000 grids), the building per case
        WITH todo AS (SELECT id, grid_id, geom FROM event WHERE coalesce(btrim(address), '') = ''),
        places AS (SELECT g.id, cityops_grid_address(g.id) AS words FROM unit g
                   WHERE g.id IN (SELECT grid_id FROM todo)),
        filled AS (UPDATE event e
                   SET address = nullif(concat_ws(' ', p.words, cityops_building_words(t.grid_id, t.geom)), '')
                   FROM todo t JOIN places p ON p.id = t.grid_id WHERE e.id = t.id RETURNING 1)
        SELECT count(*) FROM filled
    $$;
    CREATE FUNCTION cityops_event_address() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.address := cityops_place_address(NEW.grid_id, NEW.geom);
        RETURN NEW;
    END $$;
    -- cases as they are filed; an import is filled set-based after its COPY (cityops_fill_addresses)
    CREATE TRIGGER event_address BEFORE INSERT ON event FOR EACH ROW
        WHEN (coalesce(btrim(NEW.address), '') = '' AND NEW.import_batch_id IS NULL)
        EXECUTE FUNCTION cityops_event_address();
    SELECT cityops_fill_addresses();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER event_address ON event;
    DROP FUNCTION cityops_event_address();
    DROP FUNCTION cityops_fill_addresses();
    DROP FUNCTION cityops_place_address(bigint, geometry);
    DROP FUNCTION cityops_building_words(bigint, geometry);
    DROP FUNCTION cityops_grid_address(bigint, text);
    DROP FUNCTION cityops_name_below(text, text);
    DROP TRIGGER unit_renamed ON unit;
    DROP FUNCTION cityops_unit_renamed();
    ALTER TABLE unit DROP COLUMN initials;
    DROP TRIGGER unit_outline ON unit;
    DROP FUNCTION cityops_unit_outline();
    ALTER TABLE unit DROP COLUMN outline;
    DROP INDEX ix_unit_area_name_grams, ix_unit_grid_name_grams, ix_unit_building_name_grams;
    DROP FUNCTION cityops_cases_by_address(text, text, int);
    DROP FUNCTION cityops_units_by_name(text, text, text, int);
    DROP INDEX ix_event_address_grams;
    DROP FUNCTION cityops_query_grams(text);
    DROP FUNCTION cityops_grams(text);
    DROP FUNCTION cityops_squeeze(text);
    """)
