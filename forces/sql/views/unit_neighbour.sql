CREATE MATERIALIZED VIEW public.unit_neighbour AS
 SELECT r.id AS unit_id,
    n.id AS neighbour_id
   FROM (unit r
     JOIN unit n ON (((n.tier = r.tier) AND (n.kind = r.kind) AND (n.id <> r.id) AND (n.geom && r.geom) AND st_intersects(n.geom, r.geom))))
  WHERE (r.tier = ANY (ARRAY['district'::tier, 'street'::tier, 'community'::tier]));
CREATE UNIQUE INDEX ux_unit_neighbour ON public.unit_neighbour USING btree (unit_id, neighbour_id);
GRANT SELECT ON public.unit_neighbour TO cityops_api;
