"""Configuration of an API process, read once from `MEETNET_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEETNET_", extra="ignore")

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/meetnet")
    api_pool_size: int = Field(default=10, ge=1, le=100)
    # Bounds that keep one request from asking the database for everything at once.
    api_max_range_days: int = Field(default=366, ge=1)
    api_max_points: int = Field(default=100_000, ge=1)
    api_max_buckets: int = Field(default=10_000, ge=1)
    api_statement_timeout_ms: int = Field(default=15_000, ge=100)
    # Default `tz` of series; day buckets in this zone are read from the daily rollups, which
    # follow rollup_config.timezone in the database (see `SELECT set_city_timezone(...)`).
    city_timezone: str = "Europe/Amsterdam"
    # The live stream: LISTEN needs the primary, so with database_url on a read replica set
    # api_stream_database_url to the primary (default: database_url).
    api_stream_database_url: SecretStr | None = None
    api_stream_max_clients: int = Field(default=500, ge=1)
    api_stream_max_per_client: int = Field(default=10, ge=1)
    api_stream_heartbeat_s: float = Field(default=15.0, gt=0)
    api_stream_retry_ms: int = Field(default=3000, ge=0)
    # What a reconnecting client can resume from: the events of the last N seconds, at most M.
    api_stream_replay_s: float = Field(default=300.0, ge=0)
    api_stream_replay_events: int = Field(default=100_000, ge=0)
