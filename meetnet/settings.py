"""Settings of the commands that are not an ingest or API process: each reads only what it uses.

`meetnet ingest` (and reprocess, backfill, import, which run its pipeline) read `IngestSettings`,
`meetnet api` reads `ApiSettings`; the commands below read these.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.settings import parse_mqtt_url

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/meetnet"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


def _valid_mqtt_url(value: SecretStr) -> SecretStr:
    parse_mqtt_url(value.get_secret_value())
    return value


MqttUrl = Annotated[SecretStr, AfterValidator(_valid_mqtt_url)]


class DatabaseSettings(BaseSettings):
    """`meetnet migrate` and `meetnet seed`: the database and nothing else."""

    model_config = SettingsConfigDict(env_prefix="MEETNET_", extra="ignore")

    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)


class BrokerSettings(BaseSettings):
    """`meetnet simulate`: the broker it publishes to and nothing else."""

    model_config = SettingsConfigDict(env_prefix="MEETNET_", extra="ignore")

    mqtt_url: MqttUrl = SecretStr(DEFAULT_MQTT_URL)


class DemoSettings(BaseSettings):
    """What the demo is pointed at; unset means "start an embedded one"."""

    model_config = SettingsConfigDict(env_prefix="MEETNET_", extra="ignore")

    database_url: SecretStr | None = None
    mqtt_url: MqttUrl | None = None
    # Where the embedded PostgreSQL and broker keep their data and pid files between demo runs.
    demo_data_dir: str = ".meetnet"
