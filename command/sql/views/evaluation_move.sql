CREATE OR REPLACE VIEW public.evaluation_move AS
 SELECT t.id,
    t.at,
    t.grid_id,
    (g.ancestors || g.id) AS chain,
    cityops_rollup_area(g.ancestors, g.id) AS area,
    t.department,
    COALESCE(t.role, split_part(t.actor, ':'::text, 1)) AS role,
    c.filed,
    c.closed,
    c.closed_on_time,
    c.handled,
    c.handled_on_time,
    c.handling_s,
    c.checked,
    c.reworked,
    c.dispatched,
    c.returned,
    c.moves,
    c.late_moves,
    c.escalated,
    c.reopened,
    c.supervised
   FROM ((case_transition t
     JOIN unit g ON (((g.id = t.grid_id) AND (g.tier = 'grid'::tier))))
     CROSS JOIN LATERAL cityops_move_counts(t.*) c(filed, closed, closed_on_time, handled, handled_on_time, handling_s, checked, reworked, dispatched, returned, moves, late_moves, escalated, reopened, supervised));

