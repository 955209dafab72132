"""search: the grams indexes are asked for a query's rarest pairs, and common words read the newest cases

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03

Typing a unit's name missed the 50 ms p99 target (``cityops bench search``: 446 ms) while each
unit finder took about a millisecond. Two costs of migration 0022's finders grow with how common
the query's character pairs are, not with the few rows kept:

- **A common word in addresses.** ``cityops_cases_by_address`` asked the grams index for every
  case holding the query's pairs and kept the first ``candidates``; a GIN index lists every holder
  before the first row is read. Every address starts 南京市 and a quarter lie in 江宁区, so the
  first two characters of a unit's name (江宁, 浦口, 六合 …) listed 14,000 to 100,000 cases per
  search: 10–30 ms on a quiet machine, 76 ms for 南京 (the planner added parallel workers, which
  start slower than the lookup lasts on a busy machine).
- **Pairs nearly every name holds.** A whole grid's name (小卫街社区居委会第7网格) has eleven pairs;
  社区, 居委, 委会, 网格 are in almost every grid's, building's and address's words, and intersecting
  their long lists took 5–7 ms per index, where the two rare pairs (小卫, 卫街) take 0.03 ms.

How many rows hold a pair is in the statistics ANALYZE keeps of each grams index (its most common
elements and their shares; a pair not among them is rarer than all of those).
``cityops_rarest_pairs`` picks the query's ``RARE`` rarest pairs from them, and each finder asks
its index for those only: the ``LIKE`` that follows checks the whole query anyway, so the answer
is the same. With no statistics yet (before the first ANALYZE) any pairs are taken, as correct.

For addresses, when even the rarest pair is held by a share ``s`` of the cases, reading the
newest cases one by one meets a holder every ``1/s`` rows: ``candidates`` holders cost
``candidates / s`` reads, against ``s × cases`` entries the index lists and then ``candidates``
holders fetched from the table page by page. Measured on the benchmark's 100,000 cases: an entry
~0.2 µs, a case read along the primary key and compared ~3.5 µs (``READ_COST`` entries), a holder
fetched by the bitmap ~20 µs (``FETCH_COST``); 江宁 (24 %) 5 ms → 2 ms, 高淳 (12 %) about even,
玄武 (1 %) stays with the index. The cheaper way is taken: common words
read the newest cases backwards along the primary key (the ones the list ranks first) with a
plain ``LIKE``, at most ``SLACK`` times the reads expected (the caller's scope thins the
holders), and the index finds the rest among older cases when that was not enough.

No parallel workers in either finder: a lookup of at most ``candidates`` rows. The unit finder
now runs as the owner as the address finder does, to read the index statistics (``pg_stats``
shows an index's only to its owner); units are public geography, so it sees nothing more.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RARE = 3  # pairs asked of an index: two or three rare pairs already leave a handful of rows
READ_COST = 20  # a case read along the primary key and compared, in grams-index entries listed
FETCH_COST = 100  # a holder the index found, fetched from its page and compared, in entries listed
SLACK = 4  # newest cases read at most, in multiples of the reads the statistics expect

# the case policy's own predicate (migration 0010), as cityops_cases_in_box (0016) applies it
IN_SCOPE = """e.units @> ARRAY[cityops_scope_unit()]
              AND (cityops_scope_department() IS NULL OR e.departments @> ARRAY[cityops_scope_department()])"""
CASES_HOLDING = f"""
            SELECT e.id, s FROM event e, cityops_squeeze(e.address) AS s
            WHERE cityops_grams(e.address) @> $1 AND s LIKE cityops_squeeze($2)
              AND {IN_SCOPE}"""
# each tier group's name index (migration 0022) and the predicate that selects it
NAME_GROUPS = """CASE tiers WHEN 'areas' THEN 'ix_unit_area_name_grams' WHEN 'grids' THEN 'ix_unit_grid_name_grams'
                       ELSE 'ix_unit_building_name_grams' END"""
GROUP_PREDICATE = """CASE tiers WHEN 'areas' THEN 'u.tier < ''grid''' WHEN 'grids' THEN 'u.tier = ''grid'''
                                  ELSE 'u.tier = ''building''' END"""


def upgrade() -> None:
    op.execute(f"""
    CREATE FUNCTION cityops_rarest_pairs(q text, grams_index text, keep int)
    RETURNS TABLE (pair text, share double precision) LANGUAGE plpgsql STABLE AS $$
    DECLARE
        pairs text[];
        shares real[];
    BEGIN
        -- q's ``keep`` pairs (its character when it is one) held by the fewest rows of a grams index,
        -- rarest first, with the share of rows holding each: 0 for a pair not among the index's most
        -- common ones, and for every pair before the first ANALYZE. The statistics are read into
        -- variables once: as a joined subquery the array was converted once per pair (~1.5 ms).
        SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs INTO pairs, shares FROM pg_stats s
        WHERE s.schemaname = 'public' AND s.tablename = grams_index;
        RETURN QUERY SELECT g, coalesce(shares[array_position(pairs, g)], 0)::double precision
                     FROM unnest(cityops_query_grams(q)) AS g ORDER BY 2, 1 LIMIT keep;
    END $$;
    REVOKE EXECUTE ON FUNCTION cityops_rarest_pairs(text, text, int) FROM PUBLIC;  -- the finders' (as owner)

    CREATE OR REPLACE FUNCTION cityops_units_by_name(q text, pattern text, tiers text, candidates int)
    RETURNS TABLE (id bigint, name text, tier tier, squeezed text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    SET max_parallel_workers_per_gather = 0 AS $$
    DECLARE
        pairs text[] := cityops_query_grams(q);
    BEGIN
        IF cardinality(pairs) > {RARE} THEN  -- a short query's pairs are all asked: no statistics to read
            pairs := (SELECT array_agg(r.pair) FROM cityops_rarest_pairs(q, {NAME_GROUPS}, {RARE}) AS r);
        END IF;
        -- Units of a tier group (areas: city … community; grids; buildings) whose name contains q, from
        -- the group's own index asked for q's rarest pairs (migration 0025). Planned at each call with
        -- the pairs known (EXECUTE): a plan cached for any q may scan every name of a group instead.
        RETURN QUERY EXECUTE format('
            SELECT u.id, u.name, u.tier, s FROM unit u, cityops_squeeze(u.name) AS s
            WHERE %s AND cityops_grams(u.name) @> $1 AND s LIKE cityops_squeeze($2)
            LIMIT $3', {GROUP_PREDICATE})
            USING pairs, pattern, candidates;
    END $$;
    REVOKE EXECUTE ON FUNCTION cityops_units_by_name(text, text, text, int) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_units_by_name(text, text, text, int) TO cityops_api;

    CREATE OR REPLACE FUNCTION cityops_cases_by_address(q text, pattern text, candidates int)
    RETURNS TABLE (id bigint, squeezed text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    SET max_parallel_workers_per_gather = 0 AS $$
    DECLARE
        rare text[];
        share double precision;  -- of the cases holding q's rarest pair
        cases double precision := (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'event'::regclass);
        budget bigint;
        found bigint;
    BEGIN
        -- Cases in the caller's scope whose address contains q (``pattern``: squeezed, LIKE-escaped,
        -- within %), as the owner applying the case policy's own predicate (migration 0010): under
        -- row-level security the grams index cannot answer (array containment is not leakproof).
        SELECT array_agg(r.pair), coalesce(min(r.share), 0) INTO rare, share
        FROM cityops_rarest_pairs(q, 'ix_event_address_grams', {RARE}) AS r;
        -- a common word: the newest cases (migration 0025 weighs the two ways)
        IF share > 0 AND candidates * {READ_COST} / share < share * cases + candidates * {FETCH_COST} THEN
            budget := ceil({SLACK} * candidates / share);
            RETURN QUERY
                SELECT e.id, s FROM (SELECT n.id, n.address, n.units, n.departments FROM event n
                                     ORDER BY n.id DESC LIMIT budget) AS e, cityops_squeeze(e.address) AS s
                WHERE s LIKE cityops_squeeze(pattern) AND {IN_SCOPE}
                LIMIT candidates;
            GET DIAGNOSTICS found = ROW_COUNT;
            IF found < candidates THEN  -- thinner than its pairs promised: the index, among the older cases
                RETURN QUERY EXECUTE '{CASES_HOLDING}
              AND e.id < (SELECT min(n.id) FROM (SELECT n.id FROM event n ORDER BY n.id DESC LIMIT $3) AS n)
            LIMIT $4' USING rare, pattern, budget, candidates - found;
            END IF;
            RETURN;
        END IF;
        -- A rarer word: its holders from the grams index, planned at each call with the pairs known
        -- (EXECUTE), so the index is chosen for rare and common pairs alike.
        RETURN QUERY EXECUTE '{CASES_HOLDING}
            LIMIT $3' USING rare, pattern, candidates;
    END $$;
    """)


def downgrade() -> None:
    op.execute(f"""
    CREATE OR REPLACE FUNCTION cityops_cases_by_address(q text, pattern text, candidates int)
    RETURNS TABLE (id bigint, squeezed text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        RETURN QUERY EXECUTE '{CASES_HOLDING.replace("@> $1", "@> cityops_query_grams($1)")}
            LIMIT $3' USING q, pattern, candidates;
    END $$;
    CREATE OR REPLACE FUNCTION cityops_units_by_name(q text, pattern text, tiers text, candidates int)
    RETURNS TABLE (id bigint, name text, tier tier, squeezed text) LANGUAGE plpgsql STABLE AS $$
    BEGIN
        RETURN QUERY EXECUTE format('
            SELECT u.id, u.name, u.tier, s FROM unit u, cityops_squeeze(u.name) AS s
            WHERE %s AND cityops_grams(u.name) @> cityops_query_grams($1) AND s LIKE cityops_squeeze($2)
            LIMIT $3', {GROUP_PREDICATE}) USING q, pattern, candidates;
    END $$;
    GRANT EXECUTE ON FUNCTION cityops_units_by_name(text, text, text, int) TO PUBLIC;
    DROP FUNCTION cityops_rarest_pairs(text, text, int);
    """)
