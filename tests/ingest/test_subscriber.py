"""The subscriber's own PUBLISH decoding against a real Mosquitto: plain messages take the fast
path, messages with MQTT 5 properties paho's; both must arrive identical."""

from __future__ import annotations

import asyncio
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.settings import IngestSettings
from ingest.subscriber import Message, Subscriber
from tests.conftest import Broker


def _publish(port: int, messages: list[tuple[str, bytes, int, bool]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for topic, body, qos, with_properties in messages:
        properties = None
        if with_properties:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.UserProperty = ("source", "test")
            properties.ContentType = "application/json"
        infos.append(client.publish(topic, body, qos=qos, properties=properties))
    for info in infos:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


async def _receive(
    settings: IngestSettings, sent: list[tuple[str, bytes, int, bool]]
) -> list[Message]:
    subscriber = Subscriber(settings, asyncio.get_running_loop())
    subscriber.start()
    try:
        await asyncio.wait_for(subscriber.connected.wait(), 10)
        await asyncio.sleep(0.3)  # the SUBACK
        await asyncio.to_thread(_publish, settings.broker.port, sent)
        received: list[Message] = []
        async with asyncio.timeout(10):
            while len(received) < len(sent):
                if await subscriber.wait(1):
                    received += subscriber.take(100)
        subscriber.ack(received)
        return received
    finally:
        subscriber.stop()


async def test_plain_and_property_carrying_messages_arrive_alike(broker: Broker) -> None:
    app = f"sub-{uuid.uuid4().hex[:8]}"
    for protocol in ("5", "3.1.1"):
        settings = IngestSettings(
            mqtt_url=broker.url,
            mqtt_client_id=f"{app}-{protocol}",
            mqtt_topics=[f"v3/{app}/devices/+/up"],
            mqtt_protocol=protocol,
            metrics_port=0,
        )
        sent = [
            (f"v3/{app}/devices/plain/up", b'{"n": 1}', 1, False),
            (f"v3/{app}/devices/with-properties/up", b'{"n": 2}', 1, True),
            (f"v3/{app}/devices/at-most-once/up", b"", 0, False),
            (f"v3/{app}/devices/\u00e9t\u00e9/up", bytes(range(256)) * 40, 1, False),
        ]
        received = await _receive(settings, sent)
        # Subscribed at QoS 1: each message arrives at the QoS it was published with.
        got = sorted((m.topic, m.payload, m.qos) for m in received)
        assert got == sorted((t, b, q) for t, b, q, _ in sent), protocol
        assert all(type(m.payload) is bytes for m in received)
        assert all(m.mid > 0 for m in received if m.qos == 1)


async def test_messages_straddling_socket_reads_arrive_whole_and_in_order(broker: Broker) -> None:
    """The network thread reads 64 KiB at a time and cuts packets out of that: packets smaller
    than a byte of length field, larger than a read, and split across reads all come out whole."""
    app = f"sub-{uuid.uuid4().hex[:8]}"
    settings = IngestSettings(
        mqtt_url=broker.url,
        mqtt_client_id=app,
        mqtt_topics=[f"v3/{app}/devices/+/up"],
        metrics_port=0,
    )
    sizes = [0, 1, 126, 127, 128, 16_383, 16_384, 65_535, 65_536, 65_537, 150_000] * 3
    sizes += [(i * 7_919) % 70_000 for i in range(300)]
    topic = f"v3/{app}/devices/one/up"
    sent = [(topic, bytes([i % 251]) * size, 1, False) for i, size in enumerate(sizes)]
    received = await _receive(settings, sent)
    assert [m.payload for m in received] == [body for _, body, _, _ in sent]
