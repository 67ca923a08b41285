-- latest and the rollups off the ingest hot path. Maintaining them in every batch's transaction
-- (0010) cost ~18 row writes per uplink, most of the database's work of ingest. Now a batch
-- inserts its measurements and queues the ones that were new, one rollup_queue row per batch;
-- fold_rollups applies everything queued to latest and the rollups in a short transaction of its
-- own, so the many batches committed meanwhile update each (device, quantity, sensor, hour) once.
--
-- store_measurements keeps its contract (0003, 0010) for every other caller: it queues, then
-- folds in the same transaction, so what it stored is in latest and the rollups at commit.
--
-- Correctness rests on the queue being written in the transaction that inserts the measurements
-- (a measurement is committed exactly when its queue entry is) and on DELETE ... RETURNING: of
-- concurrent folds each takes a queued row exactly once, a second one waits for the first and
-- then skips what it deleted. The queue is a logged table: a crash loses no contribution.

CREATE TABLE rollup_queue (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_ids   integer[] NOT NULL,
    quantity_ids smallint[] NOT NULL,
    sensors      smallint[] NOT NULL,
    times        timestamptz[] NOT NULL,
    values       double precision[] NOT NULL
);
-- A batch's arrays (~60 kB for 500 uplinks) go to TOAST. Measured per such batch: stored plain
-- (STORAGE EXTERNAL) they write 57 kB of WAL; pglz, the default, 12 kB but ~0.7 ms of CPU; lz4
-- 17 kB and no more CPU than plain (less to write). So lz4 where the server was built with it,
-- else plain.
DO $$
BEGIN
    ALTER TABLE rollup_queue
        ALTER COLUMN device_ids SET COMPRESSION lz4,
        ALTER COLUMN quantity_ids SET COMPRESSION lz4,
        ALTER COLUMN sensors SET COMPRESSION lz4,
        ALTER COLUMN times SET COMPRESSION lz4,
        ALTER COLUMN values SET COMPRESSION lz4;
EXCEPTION
    WHEN feature_not_supported THEN  -- "compression method lz4 not supported"
        ALTER TABLE rollup_queue
            ALTER COLUMN device_ids SET STORAGE EXTERNAL,
            ALTER COLUMN quantity_ids SET STORAGE EXTERNAL,
            ALTER COLUMN sensors SET STORAGE EXTERNAL,
            ALTER COLUMN times SET STORAGE EXTERNAL,
            ALTER COLUMN values SET STORAGE EXTERNAL;
END
$$;

-- The live stream (GET /v1/stream, api/stream.py): new rows as JSON arrays in chunks of 80, each
-- well under NOTIFY's 8000-byte payload limit, delivered to listeners only on commit. Built only
-- while an API process listens (its listening session is named 'meetnet-stream'): the JSON was a
-- fifth of queue_measurements' time, for nobody.
CREATE FUNCTION announce_measurements(
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

-- Insert measurements, queue those that were new for fold_rollups, and send them to the live
-- stream; returns how many were new.
CREATE FUNCTION queue_measurements(
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

-- Apply every committed queue row to latest and the rollups and remove it; returns how many
-- measurements that was. Aggregating the queued measurements three times over, for latest, the
-- hourly and the daily rollups, was a sort of every row each, and for each bucket's newest value
-- a sort per bucket (measured: 7.6 against 4.0 us of CPU per measurement, folds once a second).
-- So the rows are grouped once, by (device, quantity, sensor, UTC hour, city day), and
-- latest and both rollups are derived from these groups, about one per series and hour, instead
-- of from one row per measurement. A UTC hour lies in one city day, or, in a zone whose offset is
-- not a whole hour, in two: it is then two groups, so days stay exact.
--
-- The upserts are those 0010 made per batch, over all queued batches at once, each in key order
-- so that concurrent folds lock rows in the same order. From the groups: counts and sums add (the
-- same addends as 0010's, added in another order: the last bits of a sum may differ, as they do
-- between two batchings of the same measurements), min of the mins, max of the maxes.
--
-- `last` is a group's newest measurement as (UTC hour in seconds since 1970, seconds into the
-- hour, value). max() compares these float arrays element by element, so over any set of groups
-- it picks the newest measurement: no sort for latest or the newest value of an hour or day.
-- Seconds into the hour keep any two times a microsecond apart apart (a float's step below 3600
-- is under 1e-12), which seconds since 1970 do not for every timestamp; an infinite time, which
-- cannot be subtracted, has none (its rows all have the same time). Of measurements with the same
-- time (a series has one per time, unless a measurement was deleted and stored again while its
-- first value was still queued) the greatest value is the newest, in latest and both rollups
-- alike.
--
-- Still once per measurement: the city's day (the zone name is read once) and rollup_addend (0010),
-- a plain SQL function and so inlined, which cannot move to the groups: for decibels it is not
-- linear in the value.

CREATE FUNCTION fold_rollups() RETURNS bigint
LANGUAGE sql AS $$
    WITH queued AS (
        DELETE FROM rollup_queue
        RETURNING device_ids, quantity_ids, sensors, times, values
    ),
    folded AS (
        -- Zipped like unnest(device_ids, ...) in FROM would, the arrays being of equal length,
        -- without first copying every row into a tuplestore (5 instead of 13 ms for 31,500 rows).
        SELECT unnest(device_ids) AS device_id, unnest(quantity_ids) AS quantity_id,
               unnest(sensors) AS sensor, unnest(times) AS time, unnest(values) AS value
        FROM queued
    ),
    classified AS (
        SELECT f.device_id, f.quantity_id, f.sensor, f.time, f.value,
               rollup_addend(q.aggregation, f.value) AS addend,
               date_trunc('hour', f.time, 'UTC') AS hour,
               (f.time AT TIME ZONE (SELECT timezone FROM rollup_config))::date AS day
        FROM folded f LEFT JOIN quantities q ON q.id = f.quantity_id
    ),
    grouped AS (
        SELECT device_id, quantity_id, sensor, hour, day, count(*)::integer AS count,
               sum(addend) AS sum, min(value) AS min, max(value) AS max, max(time) AS last_time,
               date_part('epoch', hour) || max(ARRAY[
                   date_part('epoch', CASE WHEN isfinite(time) THEN time - hour END), value
               ]) AS last
        FROM classified
        GROUP BY device_id, quantity_id, sensor, hour, day
    ),
    newest AS (
        INSERT INTO latest AS l (device_id, quantity_id, sensor, time, value)
        SELECT device_id, quantity_id, sensor, max(last_time), (max(last))[3]
        FROM grouped
        GROUP BY device_id, quantity_id, sensor
        ORDER BY device_id, quantity_id, sensor
        ON CONFLICT (device_id, quantity_id, sensor) DO UPDATE
            SET time = EXCLUDED.time, value = EXCLUDED.value
            WHERE l.time < EXCLUDED.time
        RETURNING 1
    ),
    hourly AS (
        INSERT INTO rollup_hourly AS r
            (device_id, quantity_id, sensor, hour, count, sum, min, max, last_time, last_value)
        SELECT device_id, quantity_id, sensor, hour, sum(count), sum(sum), min(min), max(max),
               max(last_time), (max(last))[3]
        FROM grouped
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
        SELECT device_id, quantity_id, sensor, day, sum(count), sum(sum), min(min), max(max),
               max(last_time), (max(last))[3]
        FROM grouped
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
    )
    SELECT coalesce(sum(count), 0) FROM grouped
$$;

-- The synchronous entry point of 0003/0010, same signature and result: queue, then fold in the
-- caller's transaction.
CREATE OR REPLACE FUNCTION store_measurements(
    p_device_ids   integer[],
    p_quantity_ids smallint[],
    p_sensors      smallint[],
    p_times        timestamptz[],
    p_values       double precision[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    stored bigint := queue_measurements(p_device_ids, p_quantity_ids, p_sensors, p_times,
                                        p_values);
BEGIN
    IF stored > 0 THEN
        PERFORM fold_rollups();
    END IF;
    RETURN stored;
END
$$;

-- 0010's rebuild (and so refresh_rollups and set_city_timezone, which call it), exact while
-- ingest goes on: fold what is queued first, then leave out measurements queued after that fold
-- (still queued when a statement starts): fold_rollups adds those to the rebuilt rows later, so
-- counting them here too would count them twice.
CREATE OR REPLACE FUNCTION rebuild_rollups(
    p_from timestamptz, p_to timestamptz, p_device_id integer DEFAULT NULL
)
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
    PERFORM fold_rollups();

    DELETE FROM rollup_hourly
    WHERE hour >= h0 AND hour < h1 AND (p_device_id IS NULL OR device_id = p_device_id);
    INSERT INTO rollup_hourly
        (device_id, quantity_id, sensor, hour, count, sum, min, max, last_time, last_value)
    SELECT m.device_id, m.quantity_id, m.sensor, date_trunc('hour', m.time, 'UTC'), count(*),
           sum(rollup_addend(q.aggregation, m.value)), min(m.value), max(m.value), max(m.time),
           (array_agg(m.value ORDER BY m.time DESC))[1]
    FROM measurements m LEFT JOIN quantities q ON q.id = m.quantity_id
    WHERE m.time >= h0 AND m.time < h1 AND (p_device_id IS NULL OR m.device_id = p_device_id)
      AND NOT EXISTS (
          SELECT FROM rollup_queue, unnest(device_ids, quantity_ids, sensors, times)
                                    AS p(device_id, quantity_id, sensor, time)
          WHERE (p.device_id, p.quantity_id, p.sensor, p.time)
              = (m.device_id, m.quantity_id, m.sensor, m.time))
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
      AND NOT EXISTS (
          SELECT FROM rollup_queue, unnest(device_ids, quantity_ids, sensors, times)
                                    AS p(device_id, quantity_id, sensor, time)
          WHERE (p.device_id, p.quantity_id, p.sensor, p.time)
              = (m.device_id, m.quantity_id, m.sensor, m.time))
    GROUP BY 1, 2, 3, 4;
END
$$;
