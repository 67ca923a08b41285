-- Both triggers below take this advisory lock ("zones" as an integer): a zone change holds it
-- exclusively, device moves share it, so a device moved while a zone is replaced is placed
-- against the committed zone, never missed by both; moves do not wait for each other.
-- Rebuild the edges and the members of one zone from its geometry.
CREATE OR REPLACE FUNCTION place_zone(p_zone integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(525337322867);
    DELETE FROM zone_edges WHERE zone_id = p_zone;
    INSERT INTO zone_edges (zone_id, polygon, x1, y1, x2, y2)
    SELECT z.id, p.i, (a.value ->> 0)::float8, (a.value ->> 1)::float8,
           (r.value -> a.j::int ->> 0)::float8, (r.value -> a.j::int ->> 1)::float8
    FROM zones z,
         jsonb_array_elements(CASE WHEN z.geometry ->> 'type' = 'Polygon'
                                   THEN jsonb_build_array(z.geometry -> 'coordinates')
                                   ELSE z.geometry -> 'coordinates' END)
             WITH ORDINALITY AS p(value, i),
         jsonb_array_elements(p.value) AS r(value),
         jsonb_array_elements(r.value) WITH ORDINALITY AS a(value, j)
    WHERE z.id = p_zone
      AND a.j < jsonb_array_length(r.value);  -- the last position closes the ring
    DELETE FROM zone_members WHERE zone_id = p_zone;
    INSERT INTO zone_members (zone_id, device_id)
    SELECT z.id, d.id FROM zones z JOIN devices d
        ON d.longitude BETWEEN z.min_lon AND z.max_lon
       AND d.latitude BETWEEN z.min_lat AND z.max_lat
    WHERE z.id = p_zone AND zone_covers(z.id, d.longitude, d.latitude);
END
$$;
