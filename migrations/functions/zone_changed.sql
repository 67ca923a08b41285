CREATE OR REPLACE FUNCTION zone_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM place_zone(NEW.id);
    RETURN NULL;
END
$$;
