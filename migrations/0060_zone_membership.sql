-- Zone membership kept by the database itself, so that reads never write it (the API can run on
-- a read replica) and every writer of a device location (ingest, PATCH, plain SQL) keeps it
-- right without knowing about zones. Until now the API recomputed it, lazily, inside GETs.
--
-- A device is in a zone when the zone's polygon covers its location, boundary included: a device
-- exactly on the shared border of two districts is in both, never in neither (as shapely's
-- `covers`, which the API used before). Polygons are kept as their edges, indexed by bounding
-- box, so a point is tested against the few edges a ray from it to the east can meet
-- (crossing-number rule; holes are rings like the others, so even-odd handles them).
--
-- Zones are upserts: a feature with a GeoJSON `id` is the zone with that feature_id, one without
-- is the zone of that name. Zones uploaded twice before this migration (same name) are merged
-- into the newest one.

DELETE FROM zones z WHERE EXISTS (SELECT 1 FROM zones n WHERE n.name = z.name AND n.id > z.id);

ALTER TABLE zones ADD COLUMN feature_id text;
CREATE UNIQUE INDEX zones_feature_id ON zones (feature_id);
CREATE UNIQUE INDEX zones_name ON zones (name) WHERE feature_id IS NULL;

CREATE TABLE zone_edges (
    zone_id integer NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    polygon integer NOT NULL,  -- which polygon of a MultiPolygon (1 for a Polygon)
    x1      double precision NOT NULL,  -- longitude, latitude of the edge's two ends
    y1      double precision NOT NULL,
    x2      double precision NOT NULL,
    y2      double precision NOT NULL,
    bounds  box GENERATED ALWAYS AS (box(point(x1, y1), point(x2, y2))) STORED
);
CREATE INDEX zone_edges_bounds ON zone_edges USING gist (bounds);
CREATE INDEX zone_edges_zone ON zone_edges (zone_id);

DROP TABLE zone_placements;

-- The functions below are defined here because the triggers and the backfill at the end of this
-- file need them during its run; their current definitions are in functions/ (zone_covers.sql,
-- place_zone.sql, zone_changed.sql, place_device.sql), applied after the numbered migrations.

-- Whether zone p_zone covers the point (boundary included). Longitudes lie in -180..180, so the
-- ray eastward ends at 180.
CREATE FUNCTION zone_covers(p_zone integer, p_lon double precision, p_lat double precision)
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

-- Both triggers below take this advisory lock ("zones" as an integer): a zone change holds it
-- exclusively, device moves share it, so a device moved while a zone is replaced is placed
-- against the committed zone, never missed by both; moves do not wait for each other.
-- Rebuild the edges and the members of one zone from its geometry.
CREATE FUNCTION place_zone(p_zone integer) RETURNS void
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

CREATE FUNCTION zone_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM place_zone(NEW.id);
    RETURN NULL;
END
$$;

CREATE FUNCTION place_device() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(525337322867);
    DELETE FROM zone_members WHERE device_id = NEW.id;
    INSERT INTO zone_members (zone_id, device_id)
    SELECT z.id, NEW.id FROM zones z
    WHERE NEW.longitude BETWEEN z.min_lon AND z.max_lon
      AND NEW.latitude BETWEEN z.min_lat AND z.max_lat
      AND zone_covers(z.id, NEW.longitude, NEW.latitude);
    RETURN NULL;
END
$$;

CREATE TRIGGER zones_placed AFTER INSERT ON zones
    FOR EACH ROW EXECUTE FUNCTION zone_changed();
CREATE TRIGGER zones_replaced AFTER UPDATE OF geometry ON zones
    FOR EACH ROW WHEN (OLD.geometry IS DISTINCT FROM NEW.geometry)
    EXECUTE FUNCTION zone_changed();
CREATE TRIGGER devices_placed AFTER INSERT ON devices
    FOR EACH ROW WHEN (NEW.latitude IS NOT NULL AND NEW.longitude IS NOT NULL)
    EXECUTE FUNCTION place_device();
CREATE TRIGGER devices_moved AFTER UPDATE OF latitude, longitude ON devices
    FOR EACH ROW WHEN (OLD.latitude IS DISTINCT FROM NEW.latitude
                       OR OLD.longitude IS DISTINCT FROM NEW.longitude)
    EXECUTE FUNCTION place_device();

-- Zones stored before: their edges, and membership from them.
SELECT place_zone(id) FROM zones;
