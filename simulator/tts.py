"""The Things Stack v3 `ApplicationUp` envelopes, with the omissions TTS makes (formats.md §1)."""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from simulator.fleet import VirtualDevice

_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(rng: random.Random) -> str:
    return "".join(rng.choice(_ULID_ALPHABET) for _ in range(26))


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def tts_uplink(
    device: VirtualDevice,
    f_cnt: int,
    f_port: int,
    frame: bytes,
    received_at: datetime,
    rng: random.Random,
) -> tuple[str, bytes]:
    """Topic and JSON body of an uplink heard by one gateway near the device."""
    uplink: dict[str, Any] = {
        "f_port": f_port,
        "f_cnt": f_cnt,
        "frm_payload": base64.b64encode(frame).decode(),
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": "gw-townhall", "eui": "B827EBFFFE6A1C2D"},
                "rssi": rng.randint(-120, -60),
                "channel_rssi": rng.randint(-120, -60),
                "snr": round(rng.uniform(-10, 10), 2),
                "channel_index": rng.randint(0, 7),
            }
        ],
        "settings": {
            "data_rate": {
                "lora": {"bandwidth": 125000, "spreading_factor": 9, "coding_rate": "4/5"}
            },
            "frequency": "867300000",
        },
        "received_at": _rfc3339(received_at),
        "consumed_airtime": "0.205824s",
        "locations": {
            "user": {
                "latitude": device.latitude,
                "longitude": device.longitude,
                "source": "SOURCE_REGISTRY",
            }
        },
    }
    # TTS omits zero values: f_cnt 0 and f_port 0 never appear on the wire.
    for key in ("f_port", "f_cnt"):
        if not uplink[key]:
            del uplink[key]
    body = {
        "end_device_ids": {
            "device_id": device.device_id,
            "application_ids": {"application_id": device.application_id},
            "dev_eui": device.dev_eui,
            "join_eui": "0000000000000000",
        },
        "correlation_ids": [f"as:up:{_ulid(rng)}", f"gs:uplink:{_ulid(rng)}"],
        "received_at": _rfc3339(received_at + timedelta(milliseconds=200)),
        "uplink_message": uplink,
    }
    topic = f"v3/{device.application_id}@ttn/devices/{device.device_id}/up"
    return topic, orjson.dumps(body)
