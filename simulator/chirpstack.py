"""ChirpStack v4 `up` events, as JSON (protobuf JSON mapping) or binary protobuf (formats.md §2).

The JSON follows what ChirpStack's integration sends: top-level fields with their defaults
(pbjson `emit_fields()`), nested gateway messages without them (no `channel` when it is 0,
chirpstack#807). The protobuf body is the same event through `chirpstack_api`'s `UplinkEvent`.
Application, tenant and device-profile UUIDs are derived from their names, so they are stable.
"""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from chirpstack_api import integration
from google.protobuf import json_format

from simulator.frame import Frame
from simulator.models import MODELS
from simulator.radio import BANDWIDTH_HZ

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://meetnet.example/simulator")


def name_uuid(kind: str, name: str) -> str:
    """A stable UUID for a tenant, application or device profile named `name`."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def _time(moment: datetime) -> str:
    """ChirpStack writes the event time with an explicit offset (`+00:00`)."""
    return moment.astimezone(UTC).isoformat()


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


@dataclass(frozen=True, slots=True)
class ChirpStackEnvelope:
    """`application/{uuid}/device/{dev_eui}/event/up`, JSON or (`binary`) protobuf."""

    binary: bool = False
    tenant_name: str = "meetnet"
    region: str = "eu868"

    @property
    def name(self) -> str:
        return "chirpstack-protobuf" if self.binary else "chirpstack-json"

    def topic(self, frame: Frame) -> str:
        app = name_uuid("application", frame.device.application_id)
        return f"application/{app}/device/{frame.device.dev_eui.lower()}/event/up"

    def event(self, frame: Frame, rng: random.Random) -> dict[str, Any]:
        """The event as ChirpStack's JSON integration writes it."""
        device, reception = frame.device, frame.reception
        model = MODELS.get(device.model)
        profile = model.profile if model is not None and model.profile else device.model
        gw_at = frame.received_at - timedelta(milliseconds=rng.randint(20, 200))
        rx_info = []
        for heard in reception.heard:
            gateway = heard.gateway
            location: dict[str, Any] = {
                "latitude": gateway.latitude,
                "longitude": gateway.longitude,
            }
            if gateway.altitude:
                location["altitude"] = gateway.altitude
            rx: dict[str, Any] = {
                "gatewayId": gateway.eui.lower(),
                "uplinkId": rng.getrandbits(32) or 1,
                "gwTime": _z(gw_at),
                "nsTime": _z(frame.received_at - timedelta(milliseconds=rng.randint(1, 15))),
                "rssi": heard.rssi,
                "snr": heard.snr,
            }
            if reception.channel_index:  # absent when 0 (chirpstack#807)
                rx["channel"] = reception.channel_index
            rx |= {
                "location": location,
                "context": base64.b64encode(rng.randbytes(4)).decode(),
                "metadata": {
                    "region_config_id": self.region,
                    "region_common_name": self.region.upper(),
                },
                "crcStatus": "CRC_OK",
            }
            if not rx["snr"]:
                del rx["snr"]
            rx_info.append(rx)
        tags = {"zone": device.zone} if device.zone else {}
        return {
            "deduplicationId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "time": _time(frame.received_at),
            "deviceInfo": {
                "tenantId": name_uuid("tenant", self.tenant_name),
                "tenantName": self.tenant_name,
                "applicationId": name_uuid("application", device.application_id),
                "applicationName": device.application_id,
                "deviceProfileId": name_uuid("device-profile", profile),
                "deviceProfileName": profile,
                "deviceName": device.device_id,
                "devEui": device.dev_eui.lower(),
                "deviceClassEnabled": "CLASS_A",
                "tags": tags,
            },
            "devAddr": device.dev_addr.lower(),
            "adr": True,
            "dr": reception.data_rate,
            "fCnt": frame.f_cnt,
            "fPort": frame.f_port,
            "confirmed": frame.confirmed,
            "data": base64.b64encode(frame.payload).decode(),
            "rxInfo": rx_info,
            "txInfo": {
                "frequency": reception.frequency,
                "modulation": {
                    "lora": {
                        "bandwidth": BANDWIDTH_HZ,
                        "spreadingFactor": reception.spreading_factor,
                        "codeRate": "CR_4_5",
                    }
                },
            },
            "regionConfigId": self.region,
        }

    def render(self, frame: Frame, rng: random.Random) -> tuple[str, bytes]:
        event = self.event(frame, rng)
        if self.binary:
            message = json_format.ParseDict(event, integration.UplinkEvent())
            return self.topic(frame), message.SerializeToString(deterministic=True)
        return self.topic(frame), orjson.dumps(event)
