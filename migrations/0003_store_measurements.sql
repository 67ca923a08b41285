-- One entry point for writing measurements, so everything derived from them (latest values now,
-- rollups later) is maintained in the same statement from exactly the rows that were new: a
-- re-delivered measurement is not inserted and so changes nothing downstream.
CREATE FUNCTION store_measurements(
    p_device_ids   integer[],
    p_quantity_ids smallint[],
    p_sensors      smallint[],
    p_times        timestamptz[],
    p_values       double precision[]
) RETURNS bigint
LANGUAGE sql AS $$
    WITH inserted AS (
        INSERT INTO measurements (device_id, quantity_id, sensor, time, value)
        SELECT * FROM unnest(p_device_ids, p_quantity_ids, p_sensors, p_times, p_values)
        ON CONFLICT DO NOTHING
        RETURNING device_id, quantity_id, sensor, time, value
    ),
    newest AS (
        -- Ordered so that concurrent writers lock latest rows in the same order.
        INSERT INTO latest AS l (device_id, quantity_id, sensor, time, value)
        SELECT DISTINCT ON (device_id, quantity_id, sensor)
               device_id, quantity_id, sensor, time, value
        FROM inserted
        ORDER BY device_id, quantity_id, sensor, time DESC
        ON CONFLICT (device_id, quantity_id, sensor) DO UPDATE
            SET time = EXCLUDED.time, value = EXCLUDED.value
            WHERE l.time < EXCLUDED.time
        RETURNING 1
    )
    SELECT count(*) FROM inserted
$$;
