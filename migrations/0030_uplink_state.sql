-- What a frame said that is not a measurement (status flags, firmware, configuration, decoder
-- warnings), kept with the uplink that said it; the API shows a device's newest.
ALTER TABLE uplinks ADD COLUMN state jsonb;
