"""Publishing simulated uplinks to an MQTT broker at a rate or as fast as QoS 1 allows."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from simulator.fleet import SimulatedUplink

logger = logging.getLogger(__name__)


def publish(
    uplinks: Iterable[SimulatedUplink],
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: bool = False,
    rate: float | None = None,
    qos: int = 1,
    client_id: str = "",
    on_published: Callable[[SimulatedUplink], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Publish each uplink; `rate` in messages per second, None for as fast as possible.

    Returns how many the broker confirmed (QoS 1) or accepted (QoS 0).
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if username:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set_context(ssl.create_default_context())
    client.connect(host, port)
    client.loop_start()
    sent = 0
    pending: list[tuple[mqtt.MQTTMessageInfo, SimulatedUplink]] = []
    started = time.monotonic()
    try:
        for uplink in uplinks:
            if should_stop():
                break
            if rate:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            info = client.publish(uplink.topic, uplink.body, qos=qos)
            pending.append((info, uplink))
            sent += 1
            if len(pending) >= 500:
                _confirm(pending, on_published)
        _confirm(pending, on_published)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def _confirm(
    pending: list[tuple[mqtt.MQTTMessageInfo, SimulatedUplink]],
    on_published: Callable[[SimulatedUplink], None] | None,
) -> None:
    for info, uplink in pending:
        info.wait_for_publish(timeout=30)
        if not info.is_published():
            raise ConnectionError(f"broker did not confirm {uplink.topic} within 30 s")
        if on_published:
            on_published(uplink)
    pending.clear()
