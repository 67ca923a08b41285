"""From one MQTT message to what should be stored: pure logic, no I/O.

Every message ends as exactly one of: a decoded uplink, an uplink kept raw plus a decode-stage dead
letter, a parse-stage dead letter, or a recognised non-uplink event that is skipped on purpose.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from decoders import DECODERS, QUANTITIES, Codec, Decoded, DecodeError, Measurement
from decoders.profiles import PROFILES, Profile, for_model
from decoders.rules import RULES, Rules
from decoders.selection import Selection, decode_object, select
from ingest.envelopes import Router
from ingest.model import DeadLetter, DecodedUplink, DeviceEvent, Ignored, ParseError, Stage, Uplink


@dataclass(frozen=True, slots=True)
class Skipped:
    """A message recognised as something other than an uplink (downlink events, logs, ...)."""

    topic: str
    reason: str = ""


Outcome = DecodedUplink | DeadLetter | Skipped | DeviceEvent

_SELECTIONS_KEPT = 10_000

# Time sanity: a measurement may be at most this much after the network server received its
# uplink (a device clock runs a little fast, a network's a little slow), and not before 2000,
# which no LoRaWAN network saw (a device clock reset to its epoch says 1970 or 2000-01-01).
DEFAULT_CLOCK_SKEW = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Parses and decodes messages; `registered` maps dev_eui to a decoder chosen by an operator,
    `device_profiles` dev_eui to the device profile an operator set (over its model's)."""

    default_decoder: str | None = "cayenne_lpp"
    registered: Mapping[str, str] | None = None
    device_profiles: Mapping[str, Profile] | None = None
    profiles: Mapping[str, Profile] = field(default_factory=lambda: PROFILES)
    router: Router = field(default_factory=Router)
    # Native codecs plus configured JavaScript ones (ingest.codecs), and the rules naming them.
    codecs: Mapping[str, Codec] = field(default_factory=lambda: DECODERS)
    rules: Rules = RULES
    # How far a measurement's own time may lie after the network's received_at (time sanity).
    max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW
    # Selections of uplinks without a network-decoded object, which depend only on the key
    # (registered decoder, model, device profile): the same few keys come again and again.
    # Emptied when it holds _SELECTIONS_KEPT.
    _selections: dict[tuple[str | None, str | None, str | None], Selection] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The model profile per (model, device profile name): as few keys as there are models.
    _model_profiles: dict[tuple[str | None, str | None], Profile | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def process(self, topic: str, payload: bytes) -> tuple[Outcome, ...]:
        try:
            parsed = self.router.parse(topic, payload)
        except ParseError as exc:
            return (DeadLetter(topic, payload, Stage.PARSE, exc.reason),)
        except Exception as exc:  # a bug in a parser costs this message, not the stream
            logger.exception("parser failed on a message of %s", topic, extra={"topic": topic})
            reason = f"unexpected error in the parser: {type(exc).__name__}: {exc}"
            return (DeadLetter(topic, payload, Stage.PARSE, reason),)
        if isinstance(parsed, Ignored):
            return (Skipped(topic, parsed.reason),)
        if isinstance(parsed, DeviceEvent):
            return (parsed,)
        return self.decode(parsed, topic, payload)

    def _selection(self, uplink: Uplink) -> Selection:
        """`decoders.selection.select` for this uplink, remembered by its key when it does not
        depend on a network-decoded object."""
        registered = self.registered.get(uplink.dev_eui) if self.registered else None
        key = (registered, uplink.model, uplink.device_profile)
        if uplink.network_decoded is None and (cached := self._selections.get(key)):
            return cached
        brand, _, model = (uplink.model or "").partition("/")
        selection = select(
            registered=registered,
            brand_id=brand or None,
            model_id=model or None,
            device_profile_name=uplink.device_profile,
            decoded_object=uplink.network_decoded,
            rules=self.rules,
            codecs=self.codecs,
            default=self.codecs.get(self.default_decoder) if self.default_decoder else None,
        )
        if uplink.network_decoded is None:
            if len(self._selections) >= _SELECTIONS_KEPT:
                self._selections.clear()
            self._selections[key] = selection
        return selection

    def profile(self, uplink: Uplink) -> Profile | None:
        """The device's own profile, else its model's (decoders.profiles.for_model)."""
        if self.device_profiles and (own := self.device_profiles.get(uplink.dev_eui)):
            return own
        key = (uplink.model, uplink.device_profile)
        if key not in self._model_profiles:
            if len(self._model_profiles) >= _SELECTIONS_KEPT:
                self._model_profiles.clear()
            self._model_profiles[key] = for_model(*key, profiles=self.profiles)
        return self._model_profiles[key]

    def decode(self, uplink: Uplink, topic: str, payload: bytes) -> tuple[Outcome, ...]:
        """Decode a parsed uplink; a failure keeps the raw uplink and adds a dead letter.

        An uplink no decoder applies to is kept raw with `decoder` None: the device shows as
        "no decoder" until one is registered, and `meetnet reprocess` can decode it later.
        """
        if uplink.f_port == 0:  # MAC commands only: nothing for an application decoder
            return (DecodedUplink(uplink, topic, None, None, ()),)
        selection = self._selection(uplink)
        key, version = selection.decoder_key, selection.decoder_version
        if key is None:
            return (DecodedUplink(uplink, topic, None, None, ()),)
        try:
            if selection.codec is not None:
                decoded = selection.codec.decode(uplink.payload, uplink.f_port)
            else:
                assert selection.fieldmap is not None and uplink.network_decoded is not None
                decoded = decode_object(selection.fieldmap, uplink.network_decoded)
            profile = self.profile(uplink)
            if profile is not None:
                decoded, version = _profiled(profile, decoded, key, version)
            measurements = decoded.measurements
            _check(measurements)
            refused = _untimely(measurements, uplink.received_at, self.max_clock_skew)
        except Exception as exc:  # DecodeError, or a bug in a decoder: this message only
            if isinstance(exc, DecodeError):
                reason = f"{key} {version}: {exc.reason}"
            else:
                logger.exception(
                    "decoder %s failed", key, extra={"dev_eui": uplink.dev_eui, "topic": topic}
                )
                reason = f"{key} {version}: unexpected error: {type(exc).__name__}: {exc}"
            return (
                DecodedUplink(uplink, topic, key, version, (), decode_error=reason),
                DeadLetter(topic, payload, Stage.DECODE, reason, uplink.dev_eui),
            )
        if not refused:
            state = _state(decoded, simulated=uplink.simulated)
            return (DecodedUplink(uplink, topic, key, version, measurements, state_json=state),)
        # The uplink keeps its raw frame and the measurements in time; the others are kept, with
        # their values, in a dead letter that says why.
        gone = {id(m) for m in refused}
        kept = tuple(m for m in measurements if id(m) not in gone)
        reason = _untimely_reason(refused, uplink.received_at, self.max_clock_skew)
        state = _state(decoded, reason, simulated=uplink.simulated)
        return (
            DecodedUplink(uplink, topic, key, version, kept, state_json=state),
            DeadLetter(topic, payload, Stage.DECODE, f"{key} {version}: {reason}", uplink.dev_eui),
        )


def _profiled(
    profile: Profile, decoded: Decoded, key: str, version: str | None
) -> tuple[Decoded, str | None]:
    """The profile applied, with the version that records it; a profile written for another
    decoder is not applied, and the device's state says so."""
    if profile.decoder != key:
        warning = f"profile {profile.name} is for decoder {profile.decoder}, not {key}: not applied"
        return Decoded(decoded.measurements, decoded.state, (*decoded.warnings, warning)), version
    return profile.apply(decoded), profile.version(version or "")


def _state(decoded: Decoded, warning: str | None = None, simulated: bool = False) -> str | None:
    """The frame's device state and warnings as JSON text (anything exotic as its str); a
    simulated uplink (TTS `SimulateUplink`) says so."""
    if not decoded.state and not decoded.warnings and warning is None and not simulated:
        return None
    state = dict(decoded.state)
    warnings = [*decoded.warnings, warning] if warning else decoded.warnings
    if warnings:
        state["warnings"] = list(warnings)
    if simulated:
        state["simulated"] = True
    return orjson.dumps(state, default=str).decode()


def _untimely(
    measurements: tuple[Measurement, ...], received_at: datetime, skew: timedelta
) -> tuple[Measurement, ...]:
    """The measurements whose time (their own, else received_at) is more than `skew` after
    received_at, or before 2000."""
    if received_at < EARLIEST:
        return tuple(
            m for m in measurements if m.time is None or not _sane(m.time, received_at, skew)
        )
    return tuple(
        m for m in measurements if m.time is not None and not _sane(m.time, received_at, skew)
    )


def _sane(time: datetime, received_at: datetime, skew: timedelta) -> bool:
    return time >= EARLIEST and time - received_at <= skew


def _untimely_reason(
    refused: tuple[Measurement, ...], received_at: datetime, skew: timedelta
) -> str:
    listed = "; ".join(
        f"{m.quantity}[{m.sensor}] = {m.value!r} at {(m.time or received_at).isoformat()}"
        for m in refused
    )
    return (
        f"{len(refused)} measurement(s) not stored, their time being more than "
        f"{skew.total_seconds():g} s after the network's received_at {received_at.isoformat()} "
        f"or before 2000: {listed}"
    )


# measurements.sensor is a smallint.
_MAX_SENSOR = 32767


def _check(measurements: tuple[Measurement, ...]) -> None:
    """Refuse what the database must never hold: unknown quantities, NaN, infinities."""
    isfinite = math.isfinite
    for m in measurements:
        if m.quantity not in QUANTITIES:
            raise DecodeError(f"decoder produced unknown quantity {m.quantity!r}")
        if not isfinite(m.value):
            raise DecodeError(f"{m.quantity} value {m.value!r} is not a finite number")
        if not 0 <= m.sensor <= _MAX_SENSOR:
            raise DecodeError(f"{m.quantity} sensor index {m.sensor} is out of range")
