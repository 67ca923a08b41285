-- measurements_quantity_time (0001) serves no query: every read of raw measurements names its
-- device (the primary key's prefix), and zone and city-wide answers come from the rollups. It
-- cost every ingested measurement a second B-tree insertion and the table a second index.
DROP INDEX IF EXISTS measurements_quantity_time;
