-- Device profiles (decoders/profiles.py): what a device's generic channels (CayenneLPP analog
-- inputs, ...) mean as catalogue quantities. A named profile is kept here, the shipped ones
-- seeded by `meetnet migrate` like the quantity catalogue (`builtin`), others written by an
-- operator; a device names the one it uses in `devices.profile`, over its model's. Ingest reads
-- both and applies the profile as it decodes.
CREATE TABLE device_profiles (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    decoder     text NOT NULL,          -- decoder key whose output the profile maps
    channels    jsonb NOT NULL CHECK (jsonb_typeof(channels) = 'array'),
    description text NOT NULL DEFAULT '',
    builtin     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A profile in use cannot be removed; renaming one carries its devices along.
ALTER TABLE devices
    ADD COLUMN profile text REFERENCES device_profiles (name) ON UPDATE CASCADE;

-- Ingest reloads the devices an operator configured (decoder or profile) every few seconds.
CREATE INDEX devices_configured ON devices (dev_eui)
    WHERE decoder IS NOT NULL OR profile IS NOT NULL;
