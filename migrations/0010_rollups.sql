-- Hourly and daily rollups per (device, quantity, sensor), maintained by store_measurements from
-- exactly the rows that were new in each write: a duplicate is not inserted and so adds nothing,
-- a late or out-of-order value adds itself to the (finished) hour and day it belongs to.
--
-- Each rollup row holds count, sum, min, max and the newest value with its time. For quantities
-- aggregated by energy mean (decibels) `sum` holds the sum of 10^(L/10), so that the energy mean
-- is 10*log10(sum/count); for all others it is the plain sum. Hours are UTC hours; days are
-- local calendar days in the city time zone of rollup_config (23 or 25 hours on DST days).

CREATE TABLE rollup_config (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    timezone text NOT NULL DEFAULT 'Europe/Amsterdam'
);
INSERT INTO rollup_config DEFAULT VALUES;

CREATE TABLE rollup_hourly (
    device_id   integer NOT NULL,
    quantity_id smallint NOT NULL,
    sensor      smallint NOT NULL,
    hour        timestamptz NOT NULL,
    count       integer NOT NULL,
    sum         double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    last_time   timestamptz NOT NULL,
    last_value  double precision NOT NULL,
    PRIMARY KEY (device_id, quantity_id, sensor, hour)
);

CREATE TABLE rollup_daily (
    device_id   integer NOT NULL,
    quantity_id smallint NOT NULL,
    sensor      smallint NOT NULL,
    day         date NOT NULL,
    count       integer NOT NULL,
    sum         double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    last_time   timestamptz NOT NULL,
    last_value  double precision NOT NULL,
    PRIMARY KEY (device_id, quantity_id, sensor, day)
);
-- Zone queries read one quantity of many devices over a range of days.
CREATE INDEX rollup_daily_quantity_day ON rollup_daily (quantity_id, day, device_id);

-- The addend of one value to `sum`: decibels are linearised (clamped to +-300 dB, far beyond any
-- physical sound level, so that no value can overflow and fail a whole ingest batch).
CREATE FUNCTION rollup_addend(p_aggregation text, p_value double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_aggregation = 'energy_mean'
                THEN power(10::double precision, GREATEST(LEAST(p_value, 300), -300) / 10)
                ELSE p_value END
$$;

CREATE OR REPLACE FUNCTION store_measurements(
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
    ),
    classified AS (
        SELECT i.device_id, i.quantity_id, i.sensor, i.time, i.value,
               rollup_addend(q.aggregation, i.value) AS addend,
               date_trunc('hour', i.time, 'UTC') AS hour,
               (i.time AT TIME ZONE (SELECT timezone FROM rollup_config))::date AS day
        FROM inserted i LEFT JOIN quantities q ON q.id = i.quantity_id
    ),
    hourly AS (
        INSERT INTO rollup_hourly AS r
            (device_id, quantity_id, sensor, hour, count, sum, min, max, last_time, last_value)
        SELECT device_id, quantity_id, sensor, hour, count(*), sum(addend), min(value),
               max(value), max(time), (array_agg(value ORDER BY time DESC))[1]
        FROM classified
        GROUP BY device_id, quantity_id, sensor, hour
        ORDER BY device_id, quantity_id, sensor, hour
        ON CONFLICT (device_id, quantity_id, sensor, hour) DO UPDATE SET
            count = r.count + EXCLUDED.count,
            sum = r.sum + EXCLUDED.sum,
            min = LEAST(r.min, EXCLUDED.min),
            max = GREATEST(r.max, EXCLUDED.max),
            last_time = GREATEST(r.last_time, EXCLUDED.last_time),
            last_value = CASE WHEN EXCLUDED.last_time > r.last_time
                              THEN EXCLUDED.last_value ELSE r.last_value END
        RETURNING 1
    ),
    daily AS (
        INSERT INTO rollup_daily AS r
            (device_id, quantity_id, sensor, day, count, sum, min, max, last_time, last_value)
        SELECT device_id, quantity_id, sensor, day, count(*), sum(addend), min(value),
               max(value), max(time), (array_agg(value ORDER BY time DESC))[1]
        FROM classified
        GROUP BY device_id, quantity_id, sensor, day
        ORDER BY device_id, quantity_id, sensor, day
        ON CONFLICT (device_id, quantity_id, sensor, day) DO UPDATE SET
            count = r.count + EXCLUDED.count,
            sum = r.sum + EXCLUDED.sum,
            min = LEAST(r.min, EXCLUDED.min),
            max = GREATEST(r.max, EXCLUDED.max),
            last_time = GREATEST(r.last_time, EXCLUDED.last_time),
            last_value = CASE WHEN EXCLUDED.last_time > r.last_time
                              THEN EXCLUDED.last_value ELSE r.last_value END
        RETURNING 1
    ),
    notified AS (
        -- The live stream (GET /v1/stream): new rows in chunks of 80, each well under
        -- NOTIFY's 8000-byte payload limit; delivered to listeners only on commit.
        SELECT pg_notify('meetnet_measurements', json_agg(json_build_array(
                   d.dev_eui, q.key, c.sensor,
                   floor(extract(epoch FROM c.time) * 1000000)::bigint, c.value))::text)
        FROM (SELECT *, (row_number() OVER () - 1) / 80 AS chunk FROM inserted) c
        JOIN devices d ON d.id = c.device_id
        JOIN quantities q ON q.id = c.quantity_id
        GROUP BY c.chunk
    )
    -- The cross join makes PostgreSQL evaluate `notified`, a plain SELECT that would otherwise
    -- be skipped as unreferenced (data-modifying CTEs always run).
    SELECT stored FROM (SELECT count(*) AS stored FROM inserted) AS s,
                       (SELECT count(*) FROM notified) AS n
$$;

-- Recompute the rollups of every device for the hours and city days touching [p_from, p_to)
-- from the raw measurements. For bulk loads (meetnet seed) and a change of city time zone; not
-- meant to run concurrently with ingest into the same range.
CREATE FUNCTION rebuild_rollups(p_from timestamptz, p_to timestamptz, p_device_id integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := (SELECT timezone FROM rollup_config);
    h0 timestamptz := date_trunc('hour', p_from, 'UTC');
    h1 timestamptz := date_trunc('hour', p_to - INTERVAL '1 microsecond', 'UTC') + INTERVAL '1 hour';
    d0 date := (p_from AT TIME ZONE tz)::date;
    d1 date := ((p_to - INTERVAL '1 microsecond') AT TIME ZONE tz)::date + 1;
BEGIN
    IF p_from >= p_to THEN
        RETURN;
    END IF;
    DELETE FROM rollup_hourly
    WHERE hour >= h0 AND hour < h1 AND (p_device_id IS NULL OR device_id = p_device_id);
    INSERT INTO rollup_hourly
        (device_id, quantity_id, sensor, hour, count, sum, min, max, last_time, last_value)
    SELECT m.device_id, m.quantity_id, m.sensor, date_trunc('hour', m.time, 'UTC'), count(*),
           sum(rollup_addend(q.aggregation, m.value)), min(m.value), max(m.value), max(m.time),
           (array_agg(m.value ORDER BY m.time DESC))[1]
    FROM measurements m LEFT JOIN quantities q ON q.id = m.quantity_id
    WHERE m.time >= h0 AND m.time < h1 AND (p_device_id IS NULL OR m.device_id = p_device_id)
    GROUP BY 1, 2, 3, 4;

    DELETE FROM rollup_daily
    WHERE day >= d0 AND day < d1 AND (p_device_id IS NULL OR device_id = p_device_id);
    INSERT INTO rollup_daily
        (device_id, quantity_id, sensor, day, count, sum, min, max, last_time, last_value)
    SELECT m.device_id, m.quantity_id, m.sensor, (m.time AT TIME ZONE tz)::date, count(*),
           sum(rollup_addend(q.aggregation, m.value)), min(m.value), max(m.value), max(m.time),
           (array_agg(m.value ORDER BY m.time DESC))[1]
    FROM measurements m LEFT JOIN quantities q ON q.id = m.quantity_id
    WHERE m.time >= (d0::timestamp AT TIME ZONE tz) AND m.time < (d1::timestamp AT TIME ZONE tz)
      AND (p_device_id IS NULL OR m.device_id = p_device_id)
    GROUP BY 1, 2, 3, 4;
END
$$;

-- The contract of 0004: after measurements of a device were replaced, recompute its rollups
-- for the hours and city days touching [p_from, p_to] (both ends included).
CREATE OR REPLACE FUNCTION refresh_rollups(p_device_id integer, p_from timestamptz, p_to timestamptz)
RETURNS void
LANGUAGE sql AS $$
    SELECT rebuild_rollups(p_from, p_to + INTERVAL '1 microsecond', p_device_id)
$$;

-- Change the city time zone that daily rollups follow, and rebuild the daily rollups with it.
CREATE FUNCTION set_city_timezone(p_timezone text)
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

-- With TimescaleDB (2.x), the hourly rollups are a hypertable too (months of hours per chunk).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('rollup_hourly', 'hour',
            chunk_time_interval => INTERVAL '30 days', if_not_exists => TRUE,
            migrate_data => TRUE);
    END IF;
END
$$;
