-- The addend of one value to `sum`: decibels are linearised (clamped to +-300 dB, far beyond any
-- physical sound level, so that no value can overflow and fail a whole ingest batch).
CREATE OR REPLACE FUNCTION rollup_addend(p_aggregation text, p_value double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_aggregation = 'energy_mean'
                THEN power(10::double precision, GREATEST(LEAST(p_value, 300), -300) / 10)
                ELSE p_value END
$$;
