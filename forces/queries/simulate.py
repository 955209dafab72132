"""The SQL of the simulator (``forces/simulate.py``): the forces it moves."""

FORCES = """
SELECT f.code, s.speed_kmh, ST_X(p.geom), ST_Y(p.geom), ST_AsBinary(u.geom)
FROM force f JOIN force_position p ON p.force_id = f.id JOIN unit u ON u.id = f.unit_id
JOIN force_kind_speed s ON s.kind = f.kind
WHERE f.status NOT IN ('off_duty', 'out_of_service') AND NOT f.fixed_post ORDER BY f.synthetic DESC, f.id LIMIT :n
"""
