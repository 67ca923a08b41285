-- Ingest's measurements of a batch, from pg_temp.measurement_stage: a plain insert, queued for
-- fold_rollups and sent to the live stream; if any key exists already, queue_measurements' exact
-- ON CONFLICT path instead (why: insert_staged_uplinks). Returns how many were new.
CREATE OR REPLACE FUNCTION queue_staged_measurements() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    stored bigint;
    queued rollup_queue;
BEGIN
    BEGIN
        INSERT INTO measurements (device_id, quantity_id, sensor, time, value)
        SELECT device_id, quantity_id, sensor, time, value FROM pg_temp.measurement_stage;
        GET DIAGNOSTICS stored = ROW_COUNT;
    EXCEPTION WHEN unique_violation THEN
        RETURN (SELECT queue_measurements(array_agg(device_id), array_agg(quantity_id),
                                          array_agg(sensor), array_agg(time), array_agg(value))
                FROM pg_temp.measurement_stage);
    END;
    IF stored > 0 THEN
        INSERT INTO rollup_queue (device_ids, quantity_ids, sensors, times, values)
        SELECT array_agg(device_id), array_agg(quantity_id), array_agg(sensor), array_agg(time),
               array_agg(value)
        FROM pg_temp.measurement_stage
        RETURNING * INTO queued;
        PERFORM announce_measurements(queued.device_ids, queued.quantity_ids, queued.sensors,
                                      queued.times, queued.values);
    END IF;
    RETURN stored;
END
$$;
