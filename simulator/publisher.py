"""Publishing simulated uplinks to an MQTT broker at a rate or as fast as QoS 1 allows."""

from __future__ import annotations

import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from simulator.recording import Message

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


def publish(
    uplinks: Iterable[M],
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: bool = False,
    rate: float | None = None,
    qos: int = 1,
    client_id: str = "",
    on_published: Callable[[M], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    max_inflight: int = 100,
    mqtt5: bool = True,
) -> int:
    """Publish each message (a SimulatedUplink, a Recorded, anything with `topic` and `body`);
    `rate` caps messages per second, None for as fast as possible.

    `on_published` is called once the broker confirmed a message (QoS 1) or it was written to the
    socket (QoS 0). Returns how many were published. `mqtt5=False` speaks MQTT 3.1.1, for
    brokers that know no other version.
    """
    protocol = MQTTProtocolVersion.MQTTv5 if mqtt5 else MQTTProtocolVersion.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    if username:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set_context(ssl.create_default_context())
    # paho sends at most this many QoS 1 messages before their PUBACKs (its default is 20).
    client.max_inflight_messages_set(max_inflight)
    client.connect(host, port)
    client.loop_start()
    sent = 0
    pending: deque[tuple[mqtt.MQTTMessageInfo, M]] = deque()
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
            while pending and pending[0][0].is_published():
                _, done = pending.popleft()
                if on_published:
                    on_published(done)
            if len(pending) >= 500:
                _confirm(pending, on_published)
        _confirm(pending, on_published)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def _confirm(
    pending: deque[tuple[mqtt.MQTTMessageInfo, M]],
    on_published: Callable[[M], None] | None,
) -> None:
    for info, uplink in pending:
        info.wait_for_publish(timeout=30)
        if not info.is_published():
            raise ConnectionError(f"broker did not confirm {uplink.topic} within 30 s")
        if on_published:
            on_published(uplink)
    pending.clear()
