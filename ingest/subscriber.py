"""The MQTT side of ingest: a paho client on its own network thread, acknowledging on request.

Messages are handed to the asyncio loop as they arrive; QoS 1 messages are acknowledged only when
`ack` is called, after the transaction holding them has committed. A semaphore bounds how many
messages may be unfinished at once, so a stalled database stops us reading from the broker
(back-pressure) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    session: int  # which broker session delivered it; acks never cross sessions


class Subscriber:
    """Subscribes with a persistent session and hands messages to an asyncio queue."""

    def __init__(
        self,
        settings: IngestSettings,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Message],
    ) -> None:
        self._settings = settings
        self._loop = loop
        self._queue = queue
        self._session = 0
        self._unfinished = threading.BoundedSemaphore(
            max(settings.mqtt_receive_maximum, settings.batch_size) * 2
        )
        self._stopping = threading.Event()
        self.connected = asyncio.Event()
        v5 = settings.mqtt_protocol == "5"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        broker = settings.broker
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set_context(ssl.create_default_context())
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        broker = self._settings.broker
        properties = None
        clean_start: bool | Literal[3] = mqtt.MQTT_CLEAN_START_FIRST_ONLY
        if self._settings.mqtt_protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._settings.mqtt_session_expiry_s
            properties.ReceiveMaximum = self._settings.mqtt_receive_maximum
            clean_start = False
        self._client.connect_async(
            broker.host,
            broker.port,
            keepalive=self._settings.mqtt_keepalive_s,
            clean_start=clean_start,
            properties=properties,
        )
        self._client.loop_start()

    def pause(self) -> None:
        """Take no more messages; what arrives from now on stays with the broker's session."""
        self._stopping.set()

    def stop(self) -> None:
        """Disconnect after the acknowledgements already queued have been sent."""
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: Iterable[Message]) -> None:
        for message in messages:
            if message.qos > 0 and message.session == self._session:
                self._client.ack(message.mid, message.qos)
            self._unfinished.release()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            return
        if not flags.session_present:
            # A new session: ids of messages from an earlier one mean nothing any more.
            self._session += 1
        qos: int = self._settings.mqtt_qos
        client.subscribe([(topic, qos) for topic in self._settings.mqtt_topics])
        logger.info(
            "connected to MQTT broker, session_present=%s, topics=%s",
            flags.session_present,
            self._settings.mqtt_topics,
        )
        self._loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._loop.call_soon_threadsafe(self.connected.clear)
        if not self._stopping.is_set():
            logger.warning("lost the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # Blocks this network thread when too much is unfinished: back-pressure to the broker.
        while not self._unfinished.acquire(timeout=0.5):
            if self._stopping.is_set():
                return
        if self._stopping.is_set():
            self._unfinished.release()
            return
        message = Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._session)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, message)
