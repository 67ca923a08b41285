-- The synchronous entry point for writing measurements (reprocessing, tests): insert what is
-- new, queue it, then fold in the caller's transaction, so what it stored is in latest and the
-- rollups at commit; returns how many were new. A re-delivered measurement is not inserted and
-- so changes nothing downstream. Ingest's hot path uses queue_staged_measurements instead and
-- leaves folding to fold_rollups' own short transactions.
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
