-- What an operator set (through the API now, a device registry later) wins over what network
-- servers report. `operator_set` names the fields an operator owns; ingest never writes those,
-- and keeps what the network says beside them: `network_name` (TTS device_id, ChirpStack
-- deviceName) and the network's position `network_latitude`/`network_longitude`, with its
-- source and network time in `location_source`/`location_at` (0020). `name`, `latitude` and
-- `longitude` stay what everyone reads: the operator's value where one is set, else the network's.
ALTER TABLE devices
    ADD COLUMN operator_set      text[] NOT NULL DEFAULT '{}'
        CHECK (operator_set <@ ARRAY['name', 'location', 'tags']::text[]),
    ADD COLUMN network_name      text,
    ADD COLUMN network_latitude  double precision CHECK (network_latitude BETWEEN -90 AND 90),
    ADD COLUMN network_longitude double precision CHECK (network_longitude BETWEEN -180 AND 180);

-- Until now the next uplink overwrote what an operator set, so what is there came from the network.
UPDATE devices SET network_name = name, network_latitude = latitude, network_longitude = longitude;
