-- Change the city time zone that daily rollups follow, and rebuild the daily rollups with it.
CREATE OR REPLACE FUNCTION set_city_timezone(p_timezone text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    first_time timestamptz;
    last_time timestamptz;
BEGIN
    PERFORM now() AT TIME ZONE p_timezone;  -- raises invalid_parameter_value for an unknown zone
    UPDATE rollup_config SET timezone = p_timezone;
    DELETE FROM rollup_daily;
    SELECT min(time), max(time) INTO first_time, last_time FROM measurements;
    IF first_time IS NOT NULL THEN
        PERFORM rebuild_rollups(first_time, last_time + INTERVAL '1 microsecond');
    END IF;
END
$$;
