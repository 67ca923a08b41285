"""One MQTT connect before a command relies on the broker, so that a broker that is not there or
refuses us is one line that says what to fix, instead of a publisher or subscriber retrying
without end."""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.settings import BrokerAddress
from meetnet.errors import CommandError

SETTING = "MEETNET_MQTT_URL"
# CONNACK reason codes (MQTT 5.0 §3.2.2.2; paho maps MQTT 3.1.1 return codes 1-5 onto them).
_UNSUPPORTED_PROTOCOL = 132
_CREDENTIALS = (134, 140)  # bad user name or password, bad authentication method
_NOT_AUTHORIZED = (135, 138)  # not authorized, banned


class BrokerUnreachableError(CommandError):
    """Nothing answered MQTT at the address; unlike a refusal, waiting may cure it."""


def check(address: BrokerAddress, client_id: str, timeout_s: float = 5.0) -> None:
    """Connect and disconnect once (MQTT 5, else 3.1.1); raise `CommandError` when the broker
    refuses, `BrokerUnreachableError` when none answers."""
    code = _connack(address, client_id, MQTTProtocolVersion.MQTTv5, timeout_s)
    if code is not None and code.value == _UNSUPPORTED_PROTOCOL:
        code = _connack(address, client_id, MQTTProtocolVersion.MQTTv311, timeout_s)
    if code is None or not code.is_failure:
        return
    where = f"the MQTT broker at {address.host}:{address.port}"
    if code.value in _CREDENTIALS:
        who = f"user {address.username!r}" if address.username else "no user name"
        raise CommandError(
            f"{where} refused the connection ({code}, with {who}): put the right user name "
            f"and password in {SETTING} (mqtt://user:password@host:port)"
        )
    if code.value in _NOT_AUTHORIZED and address.username:
        raise CommandError(
            f"{where} refused the connection ({code}) to user {address.username!r}: check the "
            f"user name and password in {SETTING}, and that the broker lets this user connect"
        )
    if code.value in _NOT_AUTHORIZED:
        raise CommandError(
            f"{where} refused the connection ({code}) to an anonymous client: give a user name "
            f"and password in {SETTING} (mqtt://user:password@host:port)"
        )
    raise CommandError(f"{where} refused the connection: {code}")


def _connack(
    address: BrokerAddress, client_id: str, protocol: MQTTProtocolVersion, timeout_s: float
) -> ReasonCode | None:
    """The broker's CONNACK reason code; None for a successful connect of a 3.1.1 broker that
    paho reports without one."""
    where = f"the MQTT broker at {address.host}:{address.port}"
    answered = threading.Event()
    result: list[ReasonCode] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    client.connect_timeout = timeout_s
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set_context(ssl.create_default_context())

    def on_connect(_c: mqtt.Client, _u: object, _f: object, code: ReasonCode, _p: object) -> None:
        result.append(code)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(address.host, address.port, keepalive=max(5, int(timeout_s) + 1))
    except ssl.SSLError as exc:
        raise BrokerUnreachableError(
            f"no TLS with {where} ({exc.reason or exc}): use mqtt:// for a plain listener, "
            f"mqtts:// for TLS, in {SETTING}"
        ) from None
    except ConnectionRefusedError:
        raise BrokerUnreachableError(
            f"cannot reach {where}: nothing accepts connections there; start the broker or "
            f"point {SETTING} at a running one"
        ) from None
    except OSError as exc:  # name resolution, no route, timeout
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise BrokerUnreachableError(
            f"cannot reach {where}: {reason}; check the host and port in {SETTING}"
        ) from None
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            raise BrokerUnreachableError(
                f"{where} accepted a connection but answered no MQTT connect within "
                f"{timeout_s:g} s: is it an MQTT listener (mqtts:// for TLS) in {SETTING}?"
            )
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0] if result else None
