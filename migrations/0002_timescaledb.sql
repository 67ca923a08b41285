-- With TimescaleDB (2.x) present, measurements and uplinks become hypertables with compression.
-- Without it this is a no-op and the plain tables of 0001 serve the same schema contract.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE NOTICE 'timescaledb is not installed: plain PostgreSQL tables';
        RETURN;
    END IF;
    -- Without preloading, CREATE EXTENSION ends the session with a FATAL error that no
    -- exception block can catch, so look before trying.
    IF position('timescaledb' IN coalesce(current_setting('shared_preload_libraries', true), ''))
       = 0 THEN
        RAISE NOTICE 'timescaledb is installed but not in shared_preload_libraries: '
                     'plain PostgreSQL tables';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    EXCEPTION
        -- Installed but not in shared_preload_libraries, or not allowed for this role.
        WHEN feature_not_supported OR object_not_in_prerequisite_state
             OR insufficient_privilege OR undefined_file THEN
            RAISE NOTICE 'timescaledb cannot be created (%): plain PostgreSQL tables', SQLERRM;
            RETURN;
    END;
    PERFORM create_hypertable('measurements', 'time',
        chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
    PERFORM create_hypertable('uplinks', 'received_at',
        chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
    EXECUTE 'ALTER TABLE measurements SET (timescaledb.compress, '
         || 'timescaledb.compress_segmentby = ''device_id, quantity_id, sensor'', '
         || 'timescaledb.compress_orderby = ''time DESC'')';
    PERFORM add_compression_policy('measurements', INTERVAL '30 days', if_not_exists => TRUE);
    EXECUTE 'ALTER TABLE uplinks SET (timescaledb.compress, '
         || 'timescaledb.compress_segmentby = ''device_id'', '
         || 'timescaledb.compress_orderby = ''received_at DESC'')';
    PERFORM add_compression_policy('uplinks', INTERVAL '30 days', if_not_exists => TRUE);
END
$$;
