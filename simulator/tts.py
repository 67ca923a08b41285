"""The Things Stack v3 `ApplicationUp` envelopes, with the omissions TTS makes (formats.md §1).

TTS marshals protobuf to JSON without defaults: a field that is "", 0, false or an empty list is
absent (f_cnt 0 after a device reset, channel_index 0, snr 0.0). `_pruned` does the same here.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from simulator.frame import Frame
from simulator.models import MODELS
from simulator.radio import BANDWIDTH_HZ

_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(moment: datetime, rng: random.Random) -> str:
    """A ULID: 48-bit millisecond time then 80 random bits, Crockford base32 (ulid/spec)."""
    value = (int(moment.timestamp() * 1000) << 80) | rng.getrandbits(80)
    return "".join(_ULID_ALPHABET[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def rfc3339(moment: datetime, nanos: int = 0) -> str:
    """UTC with nanoseconds as TTS writes them: microseconds from `moment`, then `nanos` 0-999."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + (f"{nanos:03d}Z" if nanos else "Z")


def _pruned(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop what proto3 JSON without EmitDefaults drops: "", 0, 0.0, false, [], {} (recursively)."""
    out = {}
    for key, value in doc.items():
        kind = type(value)
        if kind is dict:
            value = _pruned(value)
        elif kind is list:
            value = [_pruned(item) if type(item) is dict else item for item in value]
        if not value:  # "", 0, 0.0, False, None, [], {}
            continue
        out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class TtsEnvelope:
    """`v3/{app}@{tenant}/devices/{device_id}/up` as The Things Stack's MQTT server sends it."""

    tenant_id: str = "ttn"
    cluster_id: str = "eu1"
    name: str = "tts"

    def topic(self, frame: Frame) -> str:
        d = frame.device
        return f"v3/{d.application_id}@{self.tenant_id}/devices/{d.device_id}/up"

    def render(self, frame: Frame, rng: random.Random) -> tuple[str, bytes]:
        device, reception = frame.device, frame.reception
        model = MODELS.get(device.model)
        ns_at = frame.received_at
        # Gateways timestamp the frame's end some 20-200 ms before the Network Server has it.
        gw_at = ns_at - timedelta(milliseconds=rng.randint(20, 200))
        as_at = ns_at + timedelta(microseconds=rng.randint(2_000, 60_000))
        gw_micros = int(gw_at.timestamp() * 1_000_000)
        rx_metadata = []
        for heard in reception.heard:
            gateway = heard.gateway
            # Each concentrator has a free-running 32-bit microsecond counter of its own.
            offset = int(gateway.eui, 16) % 2**32
            timestamp = (gw_micros + offset) % 2**32
            rx_metadata.append(
                {
                    "gateway_ids": {"gateway_id": gateway.gateway_id, "eui": gateway.eui},
                    "time": rfc3339(gw_at),
                    "timestamp": timestamp,
                    "rssi": heard.rssi,
                    "channel_rssi": heard.rssi,
                    "snr": heard.snr,
                    "location": {
                        "latitude": gateway.latitude,
                        "longitude": gateway.longitude,
                        "altitude": gateway.altitude,
                        "source": "SOURCE_REGISTRY",
                    },
                    "uplink_token": base64.b64encode(rng.randbytes(36)).decode(),
                    "channel_index": reception.channel_index,
                    "received_at": rfc3339(gw_at + timedelta(milliseconds=rng.randint(5, 40))),
                }
            )
        first_timestamp = rx_metadata[0]["timestamp"] if rx_metadata else 0
        uplink: dict[str, Any] = {
            "session_key_id": base64.b64encode(_session_key_id(device.dev_eui)).decode(),
            "f_port": frame.f_port,
            "f_cnt": frame.f_cnt,
            "frm_payload": base64.b64encode(frame.payload).decode(),
            "rx_metadata": rx_metadata,
            "settings": {
                "data_rate": {
                    "lora": {
                        "bandwidth": BANDWIDTH_HZ,
                        "spreading_factor": reception.spreading_factor,
                        "coding_rate": "4/5",
                    }
                },
                "frequency": str(reception.frequency),  # uint64: a JSON string
                "timestamp": first_timestamp,
                "time": rfc3339(gw_at),
            },
            "received_at": rfc3339(ns_at, rng.randint(0, 999)),
            "confirmed": frame.confirmed,
            "consumed_airtime": f"{reception.airtime_s:.6f}s",
            "locations": {
                "user": {
                    "latitude": device.latitude,
                    "longitude": device.longitude,
                    "source": "SOURCE_REGISTRY",
                }
            },
            "network_ids": {
                "net_id": "000013",
                "ns_id": "EC656E0000000181",
                "tenant_id": self.tenant_id,
                "cluster_id": self.cluster_id,
                "cluster_address": f"{self.cluster_id}.cloud.thethings.network",
            },
        }
        if model is not None and model.version_ids is not None:
            v = model.version_ids
            uplink["version_ids"] = {
                "brand_id": v.brand_id,
                "model_id": v.model_id,
                "hardware_version": v.hardware_version,
                "firmware_version": v.firmware_version,
                "band_id": v.band_id,
            }
        body = {
            "end_device_ids": {
                "device_id": device.device_id,
                "application_ids": {"application_id": device.application_id},
                "dev_eui": device.dev_eui,
                "join_eui": "0000000000000000",
                "dev_addr": device.dev_addr,
            },
            "correlation_ids": [
                f"as:up:{ulid(as_at, rng)}",
                f"gs:conn:{ulid(gw_at, rng)}",
                f"gs:up:host:{ulid(gw_at, rng)}",
                f"gs:uplink:{ulid(gw_at, rng)}",
                f"ns:uplink:{ulid(ns_at, rng)}",
                f"rpc:/ttn.lorawan.v3.GsNs/HandleUplink:{ulid(gw_at, rng)}",
                f"rpc:/ttn.lorawan.v3.NsAs/HandleUplink:{ulid(ns_at, rng)}",
            ],
            "received_at": rfc3339(as_at, rng.randint(0, 999)),
            "uplink_message": uplink,
        }
        return self.topic(frame), orjson.dumps(_pruned(body))


def _session_key_id(dev_eui: str) -> bytes:
    """A stable 16-byte session key id per device (the session does not change in a run)."""
    return random.Random(f"session:{dev_eui}").randbytes(16)
