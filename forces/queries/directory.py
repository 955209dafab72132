"""The SQL of the directory load (``forces/directory.py``): forces upserted by code, teams' members replaced, starting
positions placed (history and latest position).
"""

from __future__ import annotations

from sqlalchemy import text

UPSERT = text("""
INSERT INTO force (code, name, kind, unit_id, department, capabilities, shift_start, shift_end, contact, synthetic,
                   fixed_post, home, home_cell)
SELECT x.code, x.name, x.kind::force_kind, u.id, x.department, ARRAY(SELECT json_array_elements_text(x.caps)),
       x.shift_start, x.shift_end,
       x.contact::jsonb, :synthetic, x.fixed_post,
       CASE WHEN x.fixed_post THEN ST_SetSRID(ST_MakePoint(x.lon, x.lat), 4326) END,
       CASE WHEN x.fixed_post THEN x.cell END
FROM json_to_recordset(CAST(:rows AS json)) AS x(code text, name text, kind text, unit text, department text,
     caps json, shift_start time, shift_end time, contact json, fixed_post boolean, lon float8, lat float8, cell bigint)
JOIN unit u ON u.code = x.unit
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, unit_id = EXCLUDED.unit_id,
    department = EXCLUDED.department, capabilities = EXCLUDED.capabilities, shift_start = EXCLUDED.shift_start,
    shift_end = EXCLUDED.shift_end, contact = EXCLUDED.contact, fixed_post = EXCLUDED.fixed_post,
    home = EXCLUDED.home, home_cell = EXCLUDED.home_cell
RETURNING (xmax = 0) AS inserted
""")
TEAMS = (
    "SELECT f.id, x.members FROM json_to_recordset(CAST(:rows AS json)) AS x(code text, members json) "
    "JOIN force f ON f.code = x.code"
)
MEMBERS = (  # a team's members are replaced: the old ones go first (one statement sees one snapshot)
    text(f"DELETE FROM team_member m USING ({TEAMS}) team WHERE m.team_id = team.id"),
    text(f"""INSERT INTO team_member (team_id, member_id) SELECT team.id, f.id
             FROM ({TEAMS}) team, json_array_elements_text(team.members) AS c(code) JOIN force f ON f.code = c.code"""),
)
PLACE = text("""
WITH x AS (SELECT f.*, ST_SetSRID(ST_MakePoint(x.lon, x.lat), 4326) AS point, x.cell AS at_cell
           FROM json_to_recordset(CAST(:rows AS json)) AS x(code text, lon float8, lat float8, cell bigint)
           JOIN force f ON f.code = x.code),
history AS (INSERT INTO force_fix (force_id, fixed_at, geom, cell) SELECT id, :at, point, at_cell FROM x
            ON CONFLICT DO NOTHING)
INSERT INTO force_position AS p (force_id, geom, cell, fixed_at, status, capabilities, units, unit_id, shift_start,
                                 shift_end)
SELECT id, point, at_cell, :at, status, capabilities, units, unit_id, shift_start, shift_end FROM x
ON CONFLICT (force_id) DO UPDATE SET geom = EXCLUDED.geom, cell = EXCLUDED.cell, fixed_at = EXCLUDED.fixed_at
WHERE p.fixed_at < EXCLUDED.fixed_at
""")
