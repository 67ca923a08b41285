CREATE OR REPLACE FUNCTION place_device() RETURNS trigger
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
