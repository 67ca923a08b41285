-- Recompute the rollups of every device (or of one) for the hours and city days touching
-- [p_from, p_to) from the raw measurements, of every quantity or of one (a quantity whose kind
-- changed, meetnet/database.py): for bulk loads (meetnet seed), re-decoding
-- (refresh_rollups) and a change of city time zone (set_city_timezone). Exact while ingest goes
-- on: fold what is queued first, then leave out measurements queued after that fold (still queued
-- when a statement starts): fold_rollups adds those to the rebuilt rows later, so counting them
-- here too would count them twice.
DROP FUNCTION IF EXISTS rebuild_rollups(timestamptz, timestamptz, integer);
CREATE OR REPLACE FUNCTION rebuild_rollups(
    p_from timestamptz, p_to timestamptz, p_device_id integer DEFAULT NULL,
    p_quantity_id smallint DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := (SELECT timezone FROM rollup_config);
    h0 timestamptz := date_trunc('hour', p_from, 'UTC');
    h1 timestamptz := date_trunc('hour', p_to - INTERVAL '1 microsecond', 'UTC')
                      + INTERVAL '1 hour';
    d0 date := (p_from AT TIME ZONE tz)::date;
    d1 date := ((p_to - INTERVAL '1 microsecond') AT TIME ZONE tz)::date + 1;
BEGIN
    IF p_from >= p_to THEN
        RETURN;
    END IF;
    PERFORM fold_rollups();

    DELETE FROM rollup_hourly
    WHERE hour >= h0 AND hour < h1 AND (p_device_id IS NULL OR device_id = p_device_id)
      AND (p_quantity_id IS NULL OR quantity_id = p_quantity_id);
    INSERT INTO rollup_hourly
        (device_id, quantity_id, sensor, hour, count, sum, min, max, last_time, last_value,
         sum_sin, sum_cos, first_time, first_value)
    SELECT m.device_id, m.quantity_id, m.sensor, date_trunc('hour', m.time, 'UTC'), count(*),
           sum(rollup_addend(q.aggregation, m.value)), min(m.value), max(m.value), max(m.time),
           (array_agg(m.value ORDER BY m.time DESC))[1],
           sum(sind(m.value)) FILTER (WHERE q.aggregation = 'circular_mean'),
           sum(cosd(m.value)) FILTER (WHERE q.aggregation = 'circular_mean'),
           min(m.time), (array_agg(m.value ORDER BY m.time))[1]
    FROM measurements m LEFT JOIN quantities q ON q.id = m.quantity_id
    WHERE m.time >= h0 AND m.time < h1 AND (p_device_id IS NULL OR m.device_id = p_device_id)
      AND (p_quantity_id IS NULL OR m.quantity_id = p_quantity_id)
      AND NOT EXISTS (
          SELECT FROM rollup_queue, unnest(device_ids, quantity_ids, sensors, times)
                                    AS p(device_id, quantity_id, sensor, time)
          WHERE (p.device_id, p.quantity_id, p.sensor, p.time)
              = (m.device_id, m.quantity_id, m.sensor, m.time))
    GROUP BY 1, 2, 3, 4;

    DELETE FROM rollup_daily
    WHERE day >= d0 AND day < d1 AND (p_device_id IS NULL OR device_id = p_device_id)
      AND (p_quantity_id IS NULL OR quantity_id = p_quantity_id);
    INSERT INTO rollup_daily
        (device_id, quantity_id, sensor, day, count, sum, min, max, last_time, last_value,
         sum_sin, sum_cos, first_time, first_value)
    SELECT m.device_id, m.quantity_id, m.sensor, (m.time AT TIME ZONE tz)::date, count(*),
           sum(rollup_addend(q.aggregation, m.value)), min(m.value), max(m.value), max(m.time),
           (array_agg(m.value ORDER BY m.time DESC))[1],
           sum(sind(m.value)) FILTER (WHERE q.aggregation = 'circular_mean'),
           sum(cosd(m.value)) FILTER (WHERE q.aggregation = 'circular_mean'),
           min(m.time), (array_agg(m.value ORDER BY m.time))[1]
    FROM measurements m LEFT JOIN quantities q ON q.id = m.quantity_id
    WHERE m.time >= (d0::timestamp AT TIME ZONE tz) AND m.time < (d1::timestamp AT TIME ZONE tz)
      AND (p_device_id IS NULL OR m.device_id = p_device_id)
      AND (p_quantity_id IS NULL OR m.quantity_id = p_quantity_id)
      AND NOT EXISTS (
          SELECT FROM rollup_queue, unnest(device_ids, quantity_ids, sensors, times)
                                    AS p(device_id, quantity_id, sensor, time)
          WHERE (p.device_id, p.quantity_id, p.sensor, p.time)
              = (m.device_id, m.quantity_id, m.sensor, m.time))
    GROUP BY 1, 2, 3, 4;
END
$$;
