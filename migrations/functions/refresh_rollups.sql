-- The contract for anything that removes or replaces measurements of a device (re-decoding):
-- afterwards it calls refresh_rollups(device, from, to), which recomputes that device's rollups
-- for the hours and city days touching [p_from, p_to] (both ends included) from the raw rows.
CREATE OR REPLACE FUNCTION refresh_rollups(
    p_device_id integer, p_from timestamptz, p_to timestamptz
)
RETURNS void
LANGUAGE sql AS $$
    SELECT rebuild_rollups(p_from, p_to + INTERVAL '1 microsecond', p_device_id)
$$;
