-- What ingest learns about a device besides its measurements: the network's device profile
-- (ChirpStack), when it last joined, where it is and how its battery is, each with the network
-- server's time so an event that arrives late never overwrites a newer one.
ALTER TABLE devices
    ADD COLUMN device_profile  text,
    ADD COLUMN joined_at       timestamptz,
    ADD COLUMN location_source text,
    ADD COLUMN location_at     timestamptz,
    ADD COLUMN battery_level   real CHECK (battery_level BETWEEN 0 AND 100),
    ADD COLUMN external_power  boolean,
    ADD COLUMN battery_at      timestamptz;

-- No index on uplinks.decoder for `meetnet reprocess`: it is a rare batch job and may scan,
-- while every index on uplinks costs every ingest commit.
