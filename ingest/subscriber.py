"""The MQTT side of ingest: a paho client on its own network thread, acknowledging on request.

Messages are appended to a deque as they arrive and the asyncio side is woken only when it waits
for them (one wake-up per burst, not per message). QoS 1 messages are acknowledged only when `ack`
is called, after the transaction holding them committed, all PUBACKs of a batch in one write.
Memory is bounded twice over: the broker sends at most `receive maximum` (MQTT 5) or
`max_inflight_messages` (3.1.1) unacknowledged messages, and should a broker ignore that, the
network thread stops reading once `held_limit` messages are unfinished (back-pressure).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

_PUBACK = struct.Struct("!BBH")  # MQTT 3.1.1 §3.4 / 5.0 §3.4: 0x40, length 2, packet id
_PUBLISH = 0x30  # packet type in the high nibble of the first byte (MQTT 5.0 §2.1.2)
# Packets read per wake-up of the network thread before it sends what is queued (PUBACKs).
_READ_BURST = 256
_RECEIVE_SIZE = 65536  # bytes per read from the socket
# CONNACK codes meaning "speak 3.1.1 to me": MQTT 5 0x84, MQTT 3.1.1 return code 1.
_UNSUPPORTED_PROTOCOL = {0x84, 1}


class _Client(mqtt.Client):
    """Hands plain QoS 0/1 PUBLISH packets straight to `receive` (MQTT 3.1.1 §3.3, 5.0 §3.3).

    paho builds an `MQTTMessage`, an MQTT 5 `Properties` object and a debug log line for every
    message; that was a quarter of ingest's CPU. Anything unusual (QoS 2, MQTT 5 properties such
    as a topic alias, a topic that is not UTF-8) still takes paho's own path to `on_message`.
    """

    receive: Callable[[str, bytes, int, int], None] | None = None
    # Bytes read from the socket and not yet handed to paho's packet reader.
    _received: bytes = b""
    _received_pos: int = 0

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read what the socket holds, `_READ_BURST` packets or more per wake-up.

        paho reads one packet per select() unless QoS 2 messages are in flight, which for a
        stream of QoS 1 messages costs a select() and a pass of its loop per message. Reading
        goes on past the burst until `_received` is empty: select() cannot see those bytes.
        """
        read = 0
        while read < _READ_BURST or self._received_pos < len(self._received):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
            read += 1
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        """paho reads a packet in three or more pieces (type, each length byte, the rest); serve
        them from one large read instead of a system call each."""
        data, pos = self._received, self._received_pos
        if pos >= len(data):
            data = super()._sock_recv(_RECEIVE_SIZE)  # raises BlockingIOError when empty
            pos = 0
            if not data:  # the broker closed the connection
                self._received, self._received_pos = b"", 0
                return data
        piece = data[pos : pos + bufsize]
        self._received, self._received_pos = data, pos + len(piece)
        return piece

    def _sock_close(self) -> None:
        # What the old connection left unread must never reach the next one's packet reader.
        self._received, self._received_pos = b"", 0
        super()._sock_close()

    def _packet_read(self) -> MQTTErrorCode:
        """A plain PUBLISH lying whole in the read buffer is taken straight from it.

        paho's reader asks for a packet piece by piece, copies it into a bytearray, takes a lock
        and the time twice and rebuilds its state dict for every packet: 6 us a message, 3 this
        way. Any other packet, one only partly read, and whatever `_deliver` declines go paho's
        way. The buffer is refilled only on paho's way, which notes when bytes last arrived
        (its keepalive check), so the packets taken here arrived at that time.
        """
        data, start = self._received, self._received_pos
        if (
            self.receive is not None
            and start < len(data)
            and data[start] & 0xF0 == _PUBLISH
            and self._in_packet["command"] == 0
        ):
            # Remaining length: a variable byte integer of at most 4 bytes (MQTT 5.0 §1.5.5).
            length, shift, pos = 0, 0, start + 1
            while pos < len(data) and shift < 28:
                byte = data[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    end = pos + length
                    if end <= len(data) and self._deliver(data[start], data[pos:end]):
                        self._received_pos = end
                        return MQTTErrorCode.MQTT_ERR_SUCCESS
                    break
        return super()._packet_read()

    def _handle_publish(self) -> MQTTErrorCode:
        packet: bytearray = self._in_packet["packet"]
        if self._deliver(self._in_packet["command"], bytes(packet)):
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._handle_publish()

    def _deliver(self, command: int, packet: bytes) -> bool:
        """Hand a QoS 0/1 PUBLISH without properties to `receive`; False for paho's path."""
        receive = self.receive
        qos = (command & 0x06) >> 1
        if receive is None or qos == 2 or len(packet) < 4:
            return False
        end = 2 + (packet[0] << 8 | packet[1])  # 2-byte topic length, then the topic
        mid = 0
        pos = end
        if qos:  # 2-byte packet identifier
            if pos + 2 > len(packet):
                return False
            mid = packet[pos] << 8 | packet[pos + 1]
            pos += 2
        if self._protocol == MQTTProtocolVersion.MQTTv5:
            # Property length (a variable byte integer); 0 is one byte. Properties: paho's path.
            if pos >= len(packet) or packet[pos] != 0:
                return False
            pos += 1
        if end < 3 or pos > len(packet):  # empty topic or truncated: paho reports it
            return False
        try:
            topic = packet[2:end].decode()
        except UnicodeDecodeError:
            return False
        with self._in_callback_mutex:
            receive(topic, packet[pos:], mid, qos)
        return True


class Message(NamedTuple):
    """One received PUBLISH (a tuple: built for every message on the network thread)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    session: int  # which broker session delivered it; acks never cross sessions


class Subscriber:
    """Subscribes with a persistent session and hands messages to the asyncio side."""

    def __init__(
        self,
        settings: IngestSettings,
        loop: asyncio.AbstractEventLoop,
        on_connected: Callable[[bool], None] | None = None,
    ) -> None:
        self._settings = settings
        self._loop = loop
        self._on_connected = on_connected
        self._session = 0
        self._inbox: deque[Message] = deque()
        self._waiter: asyncio.Future[None] | None = None
        # Written by one thread each, so their difference is safe to read from either.
        self._received = 0
        self._finished = 0
        self.held_limit = max(settings.mqtt_receive_maximum, settings.batch_size) * 2
        self._room = threading.Event()
        self._stopping = threading.Event()
        self.protocol = settings.mqtt_protocol
        self.connected = asyncio.Event()
        self._client = self._make_client()

    @property
    def held(self) -> int:
        """Messages received and not yet acknowledged (or dropped at stop)."""
        return self._received - self._finished

    def _make_client(self) -> mqtt.Client:
        v5 = self.protocol == "5"
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._settings.mqtt_client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        broker = self._settings.broker
        if broker.username:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set_context(ssl.create_default_context())
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.receive = self._receive
        return client

    def start(self) -> None:
        broker = self._settings.broker
        properties = None
        clean_start: bool | Literal[3] = mqtt.MQTT_CLEAN_START_FIRST_ONLY
        if self.protocol == "5":
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
        self._room.set()

    def stop(self) -> None:
        """Disconnect after the acknowledgements already queued have been sent."""
        self.pause()
        self._client.disconnect()
        self._client.loop_stop()

    def take(self, limit: int) -> list[Message]:
        """Up to `limit` messages that have arrived, without waiting."""
        inbox = self._inbox
        n = min(limit, len(inbox))
        return [inbox.popleft() for _ in range(n)]

    async def wait(self, timeout_s: float) -> bool:
        """Wait until a message is there; False if none came within `timeout_s`."""
        if self._inbox:
            return True
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            if self._inbox:  # arrived between the check and publishing the waiter
                return True
            try:
                await asyncio.wait_for(waiter, timeout_s)
            except TimeoutError:
                return bool(self._inbox)
            return True
        finally:
            self._waiter = None

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge committed messages; the PUBACKs go out as one write."""
        session = self._session
        current = [m.mid for m in messages if m.qos == 1 and m.session == session]
        if current:
            packet = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in current)
            queue = getattr(self._client, "_packet_queue", None)
            if queue is not None:
                # One buffer holding every PUBACK; paho writes it as it writes any packet.
                queue(0x40, packet, 0, 0)
            else:  # pragma: no cover - a paho without the private queue
                for mid in current:
                    self._client.ack(mid, 1)
        self.release(len(messages))

    def release(self, count: int) -> None:
        """Forget `count` messages without acknowledging them (the broker will redeliver)."""
        self._finished += count
        self._room.set()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            if self.protocol == "5" and reason_code.value in _UNSUPPORTED_PROTOCOL:
                logger.warning("broker does not speak MQTT 5; falling back to 3.1.1")
                self._loop.call_soon_threadsafe(self._fall_back)
                return
            logger.error("broker refused the connection: %s", reason_code)
            return
        if not flags.session_present:
            # A new session: ids of messages from an earlier one mean nothing any more.
            self._session += 1
        qos: int = self._settings.mqtt_qos
        client.subscribe([(topic, qos) for topic in self._settings.subscription_filters])
        logger.info(
            "connected to MQTT broker (MQTT %s), session_present=%s, topics=%s",
            self.protocol,
            flags.session_present,
            self._settings.subscription_filters,
        )
        self._loop.call_soon_threadsafe(self.connected.set)
        if self._on_connected is not None:
            self._on_connected(True)

    def _fall_back(self) -> None:
        old = self._client
        old.disconnect()
        old.loop_stop()
        self.protocol = "3.1.1"
        self._client = self._make_client()
        self.start()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._loop.call_soon_threadsafe(self.connected.clear)
        if self._on_connected is not None:
            self._on_connected(False)
        if not self._stopping.is_set():
            logger.warning("lost the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        payload: bytes = msg.payload  # type: ignore[assignment]  # paho hands bytes here
        self._receive(msg.topic, payload, msg.mid, msg.qos)

    def _receive(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        # Blocks this network thread when too much is unfinished: back-pressure to the broker.
        while self._received - self._finished >= self.held_limit:
            self._room.clear()
            if self._received - self._finished < self.held_limit:
                break
            self._room.wait(0.5)
            if self._stopping.is_set():
                return
        if self._stopping.is_set():
            return
        self._received += 1
        self._inbox.append(Message(topic, payload, mid, qos, self._session))
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            self._loop.call_soon_threadsafe(_wake, waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
