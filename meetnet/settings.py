"""Settings of the commands that wire several packages together (simulate, demo)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DemoSettings(BaseSettings):
    """What the demo and simulator are pointed at; unset means "start an embedded one"."""

    model_config = SettingsConfigDict(env_prefix="MEETNET_", extra="ignore")

    database_url: SecretStr | None = None
    mqtt_url: SecretStr | None = None
    # Where the embedded PostgreSQL keeps its data between demo runs.
    demo_data_dir: str = ".meetnet"
