-- The live stream (GET /v1/stream, api/stream.py): new rows as JSON arrays in chunks of 80, each
-- well under NOTIFY's 8000-byte payload limit, delivered to listeners only on commit. Built only
-- while an API process listens (its listening session is named 'meetnet-stream'): the JSON was a
-- fifth of queue_measurements' time, for nobody.
CREATE OR REPLACE FUNCTION announce_measurements(
    p_device_ids   integer[],
    p_quantity_ids smallint[],
    p_sensors      smallint[],
    p_times        timestamptz[],
    p_values       double precision[]
) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('meetnet_measurements', json_agg(json_build_array(
               d.dev_eui, q.key, c.sensor,
               floor(extract(epoch FROM c.time) * 1000000)::bigint, c.value))::text)
    FROM (SELECT m.*, (row_number() OVER () - 1) / 80 AS chunk
          FROM unnest(p_device_ids, p_quantity_ids, p_sensors, p_times, p_values)
               AS m(device_id, quantity_id, sensor, time, value)) c
    JOIN devices d ON d.id = c.device_id
    JOIN quantities q ON q.id = c.quantity_id
    WHERE EXISTS (SELECT 1 FROM pg_stat_activity
                  WHERE application_name = 'meetnet-stream' AND datname = current_database())
    GROUP BY c.chunk
$$;
