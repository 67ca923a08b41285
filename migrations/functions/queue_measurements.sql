-- Insert measurements, queue those that were new for fold_rollups, and send them to the live
-- stream; returns how many were new.
CREATE OR REPLACE FUNCTION queue_measurements(
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
    queued AS (
        INSERT INTO rollup_queue (device_ids, quantity_ids, sensors, times, values)
        SELECT array_agg(device_id), array_agg(quantity_id), array_agg(sensor), array_agg(time),
               array_agg(value)
        FROM inserted
        HAVING count(*) > 0
        RETURNING device_ids, quantity_ids, sensors, times, values
    ),
    announced AS (
        SELECT announce_measurements(device_ids, quantity_ids, sensors, times, values)
        FROM queued
    )
    -- The cross join makes PostgreSQL evaluate `announced`, a plain SELECT that would otherwise
    -- be skipped as unreferenced (data-modifying CTEs always run).
    SELECT stored FROM (SELECT count(*) AS stored FROM inserted) AS s,
                       (SELECT count(*) FROM announced) AS n
$$;
