-- Core schema: the catalogue, devices, raw uplinks, measurements, latest values, dead letters.
-- Tall and narrow; everything keyed so that a re-delivered message creates no second row.

CREATE TABLE quantities (
    id          smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    unit        text NOT NULL,
    aggregation text NOT NULL CHECK (aggregation IN ('mean', 'sum', 'energy_mean', 'max', 'state')),
    description text NOT NULL
);

CREATE TABLE devices (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dev_eui        text NOT NULL UNIQUE CHECK (dev_eui ~ '^[0-9A-F]{16}$'),
    name           text,
    application_id text,
    model          text,      -- Device Repository brand_id/model_id, as reported by the network
    decoder        text,      -- registered decoder key; overrides the automatic choice
    latitude       double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude      double precision CHECK (longitude BETWEEN -180 AND 180),
    tags           jsonb NOT NULL DEFAULT '{}',
    first_seen_at  timestamptz,
    last_seen_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per uplink as the network server delivered it, kept for replay and re-decoding.
-- The key includes received_at because hypertables (and native partitions) need the time column
-- in every unique index; a re-delivered message carries the same received_at.
CREATE TABLE uplinks (
    received_at      timestamptz NOT NULL,
    idempotency_key  text NOT NULL,
    device_id        integer NOT NULL,
    f_port           integer,
    f_cnt            bigint,
    payload          bytea NOT NULL,
    rssi             real,
    snr              real,
    spreading_factor smallint,
    frequency        bigint,
    gateway_count    smallint NOT NULL DEFAULT 0,
    topic            text NOT NULL,
    decoder          text,
    decoder_version  text,
    decode_error     text,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (idempotency_key, received_at)
);
CREATE INDEX uplinks_device_time ON uplinks (device_id, received_at DESC);

-- time is the measurement's own time: the device's timestamp if the payload had one, else the
-- network server's received_at; never the ingest clock.
CREATE TABLE measurements (
    device_id   integer NOT NULL,
    quantity_id smallint NOT NULL,
    sensor      smallint NOT NULL DEFAULT 0,
    time        timestamptz NOT NULL,
    value       double precision NOT NULL,
    PRIMARY KEY (device_id, quantity_id, sensor, time)
);
CREATE INDEX measurements_quantity_time ON measurements (quantity_id, time DESC);

-- Newest value per (device, quantity, sensor) by measurement time, not by arrival.
CREATE TABLE latest (
    device_id   integer NOT NULL,
    quantity_id smallint NOT NULL,
    sensor      smallint NOT NULL DEFAULT 0,
    time        timestamptz NOT NULL,
    value       double precision NOT NULL,
    PRIMARY KEY (device_id, quantity_id, sensor)
);
CREATE INDEX latest_quantity ON latest (quantity_id);

-- What could not be parsed, decoded or stored; a repeat of the same fault counts, not multiplies.
CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint   bytea NOT NULL UNIQUE,  -- sha256 over stage, topic and raw bytes
    topic         text NOT NULL,
    payload       bytea NOT NULL,
    stage         text NOT NULL CHECK (stage IN ('parse', 'decode', 'store')),
    reason        text NOT NULL,
    dev_eui       text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    count         integer NOT NULL DEFAULT 1
);
CREATE INDEX dead_letters_last_seen ON dead_letters (last_seen_at DESC);
