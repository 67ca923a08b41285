-- Zones: named polygons (districts, neighbourhoods) uploaded as GeoJSON, and which devices lie
-- in them. Membership is computed by the API with shapely (boundary included: a device on the
-- shared border of two districts is in both) and re-computed for a device whenever its location
-- differs from the one recorded in zone_placements (ingest and PATCH both move devices).
CREATE TABLE zones (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    properties jsonb NOT NULL DEFAULT '{}',
    geometry   jsonb NOT NULL,  -- GeoJSON Polygon or MultiPolygon, WGS84 longitude/latitude
    min_lon    double precision NOT NULL,
    min_lat    double precision NOT NULL,
    max_lon    double precision NOT NULL,
    max_lat    double precision NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE zone_members (
    zone_id   integer NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    device_id integer NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    PRIMARY KEY (zone_id, device_id)
);
CREATE INDEX zone_members_device ON zone_members (device_id);

-- The location each device's membership was computed for.
CREATE TABLE zone_placements (
    device_id integer PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    latitude  double precision,
    longitude double precision
);
