"""MQTT subscription, envelope parsing, decoding and the batching writer into PostgreSQL."""
