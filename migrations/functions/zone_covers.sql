-- Whether zone p_zone covers the point (boundary included). Longitudes lie in -180..180, so the
-- ray eastward ends at 180.
CREATE OR REPLACE FUNCTION zone_covers(p_zone integer, p_lon double precision, p_lat double precision)
RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$
    SELECT coalesce(bool_or(on_edge OR crossings % 2 = 1), false)
    FROM (
        SELECT bool_or(e.bounds @> point(p_lon, p_lat)
                       AND (e.x2 - e.x1) * (p_lat - e.y1) = (e.y2 - e.y1) * (p_lon - e.x1))
                   AS on_edge,
               count(*) FILTER (
                   WHERE (e.y1 > p_lat) <> (e.y2 > p_lat)
                     AND p_lon < (e.x2 - e.x1) * (p_lat - e.y1) / (e.y2 - e.y1) + e.x1)
                   AS crossings
        FROM zone_edges e
        WHERE e.bounds && box(point(p_lon, p_lat), point(180, p_lat)) AND e.zone_id = p_zone
        GROUP BY e.polygon
    ) per_polygon
$$;
