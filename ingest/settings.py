"""Configuration of an ingest process, read once from `MEETNET_*` environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingest.envelopes import Subscription


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and how to reach the MQTT broker, parsed from `mqtt://user:pass@host:port`."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> BrokerAddress:
    """Parse `mqtt://` (plain, default port 1883) or `mqtts://` (TLS, default 8883) URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL has no host: {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class IngestSettings(BaseSettings):
    """Everything `meetnet ingest` needs; nothing else in the process reads the environment."""

    model_config = SettingsConfigDict(env_prefix="MEETNET_", extra="ignore")

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/meetnet")
    mqtt_url: SecretStr = SecretStr("mqtt://127.0.0.1:1883")
    mqtt_client_id: str = "meetnet-ingest"
    # Topic filters, each optionally `=format` (ingest/envelopes.py): by default every The Things
    # Stack v3 device event and every ChirpStack device event. `$share/<group>/<filter>` spreads
    # one subscription over several ingest processes (MQTT 5 shared subscription).
    mqtt_topics: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["v3/+/devices/+/#", "application/+/device/+/event/+"]
    )
    mqtt_qos: Literal[0, 1] = 1
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    # How long the broker keeps our session (and queues QoS 1 messages) while we are away.
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # MQTT 5 receive maximum: unacknowledged messages the broker may have in flight to us.
    mqtt_receive_maximum: int = Field(default=2000, ge=1, le=65535)
    mqtt_keepalive_s: int = Field(default=30, ge=5)
    batch_size: int = Field(default=500, ge=1)
    # Batches committed concurrently (each on its own connection); acknowledgements stay in order.
    writers: int = Field(default=2, ge=1, le=8)
    batch_interval_ms: int = Field(default=200, ge=1)
    # Used when neither a registered decoder nor a known device model picks one.
    default_decoder: str | None = "cayenne_lpp"
    # Time sanity: a measurement time more than this after the network's received_at (or before
    # 2000) is not stored but dead-lettered with its value (ingest/pipeline.py).
    max_clock_skew_s: float = Field(default=600.0, ge=0)
    # Folder of operator-configured JavaScript codecs (see ingest/codecs.py); None: none.
    codecs_dir: Path | None = None
    # Prometheus /metrics on this port (all interfaces of metrics_host); 0 turns it off.
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    # `text` for people, `json` for log collectors (one object per line, with dev_eui/topic).
    log_format: Literal["text", "json"] = "text"

    @field_validator("mqtt_topics", mode="before")
    @classmethod
    def _comma_separated_topics(cls, value: object) -> object:
        if isinstance(value, str):
            return [topic.strip() for topic in value.split(",") if topic.strip()]
        return value

    @field_validator("mqtt_topics")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        for entry in value:
            Subscription.parse(entry)
        return value

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(Subscription.parse(entry) for entry in self.mqtt_topics)

    @property
    def subscription_filters(self) -> list[str]:
        return [s.topic_filter for s in self.subscriptions]

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, value: SecretStr) -> SecretStr:
        parse_mqtt_url(value.get_secret_value())
        return value

    @property
    def pool_size(self) -> int:
        """Database connections ingest needs at once: one per writer, one for the fold loop and
        one for what else runs meanwhile (refreshing the registered decoders)."""
        return self.writers + 2

    @property
    def broker(self) -> BrokerAddress:
        return parse_mqtt_url(self.mqtt_url.get_secret_value())
