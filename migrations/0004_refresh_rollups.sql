-- The contract for anything that removes or replaces measurements (re-decoding, retention):
-- afterwards it calls refresh_rollups(device, from, to) so that derived aggregates are
-- recomputed from the raw rows of that range. Until rollup tables exist there is nothing to do;
-- the migration that adds them replaces this body (CREATE OR REPLACE, same signature).
CREATE FUNCTION refresh_rollups(p_device_id integer, p_from timestamptz, p_to timestamptz)
RETURNS void
LANGUAGE sql AS $$
    SELECT
$$;
