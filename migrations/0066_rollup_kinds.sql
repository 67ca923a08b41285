-- Two more aggregation kinds (decoders/catalogue.py): circular means for directions and
-- counters for cumulative readings (meter indexes). The rollups keep what each needs:
--   sum_sin, sum_cos  sums of sin and cos of the values in degrees, for circular quantities only
--                     (null for others): the mean direction is atan2(sum_sin, sum_cos);
--   first_time, first_value  the bucket's oldest measurement, as last_time/last_value hold its
--                     newest: a counter's delta per bucket is derived from these.
-- Rows written before this migration have them null; `meetnet migrate` rebuilds the rollups of
-- every quantity whose kind it changes (meetnet/database.py), so none of those is read.
ALTER TABLE quantities DROP CONSTRAINT quantities_aggregation_check;
ALTER TABLE quantities ADD CONSTRAINT quantities_aggregation_check CHECK (aggregation IN
    ('mean', 'sum', 'energy_mean', 'max', 'state', 'circular_mean', 'counter'));

ALTER TABLE rollup_hourly
    ADD COLUMN sum_sin double precision,
    ADD COLUMN sum_cos double precision,
    ADD COLUMN first_time timestamptz,
    ADD COLUMN first_value double precision;
ALTER TABLE rollup_daily
    ADD COLUMN sum_sin double precision,
    ADD COLUMN sum_cos double precision,
    ADD COLUMN first_time timestamptz,
    ADD COLUMN first_value double precision;
