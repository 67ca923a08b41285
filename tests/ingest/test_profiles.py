"""Device profiles applied as ingest decodes: the model's, or the one set on the device."""

from __future__ import annotations

import base64

import asyncpg
import orjson
from pydantic import SecretStr

from decoders import Measurement
from decoders.profiles import PROFILES, parse
from ingest.model import DeadLetter, DecodedUplink
from ingest.pipeline import Pipeline
from ingest.service import Ingest
from ingest.settings import IngestSettings
from ingest.writer import Writer

TOPIC = "v3/city@ttn/devices/aq-1/up"
CS_TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/70b3d5499a000001/event/up"
EUI = "70B3D5499A000001"
# CayenneLPP: analog input 41.27 on channel 4, 3.61 V on channel 9 (formats.md §3.1).
FRAME = bytes.fromhex("0402101f09740169")


def _tts(frame: bytes = FRAME) -> bytes:
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": "aq-1", "dev_eui": EUI},
            "correlation_ids": ["as:up:01J9Z0B7Q3T4K8WQ1N5H2C6D7F"],
            "uplink_message": {
                "f_port": 3,
                "f_cnt": 12,
                "frm_payload": base64.b64encode(frame).decode(),
                "received_at": "2025-03-14T08:15:02Z",
            },
        }
    )


def _chirpstack(profile_name: str) -> bytes:
    return orjson.dumps(
        {
            "deduplicationId": "5f2c1a7e-3b44-4e0f-9a61-2d8e7c0b9f14",
            "time": "2025-03-14T08:15:02.318442+00:00",
            "deviceInfo": {"devEui": EUI.lower(), "deviceProfileName": profile_name},
            "fCnt": 12,
            "fPort": 3,
            "data": base64.b64encode(FRAME).decode(),
        }
    )


def _decoded(topic: str, body: bytes, pipeline: Pipeline) -> DecodedUplink:
    (outcome,) = pipeline.process(topic, body)
    assert isinstance(outcome, DecodedUplink)
    return outcome


AIR = PROFILES["lpp-air-quality"]
MAPPED = (Measurement("no2", 41.27), Measurement("battery_voltage", 3.61))


def test_without_a_profile_the_generic_channels_stay_generic() -> None:
    outcome = _decoded(TOPIC, _tts(), Pipeline())
    assert (outcome.decoder, outcome.decoder_version) == ("cayenne_lpp", "1.0.0")
    assert outcome.measurements == (
        Measurement("analog_input", 41.27, 4),
        Measurement("voltage", 3.61, 9),
    )


def test_the_chirpstack_device_profile_name_selects_the_model_profile() -> None:
    outcome = _decoded(CS_TOPIC, _chirpstack("LPP-Air-Quality"), Pipeline())
    assert outcome.decoder == "cayenne_lpp"
    assert outcome.decoder_version == f"1.0.0+lpp-air-quality.{AIR.fingerprint}"
    assert outcome.measurements == MAPPED


def test_the_profile_set_on_the_device_wins_over_the_models() -> None:
    pipeline = Pipeline(device_profiles={EUI: AIR})
    assert _decoded(TOPIC, _tts(), pipeline).measurements == MAPPED
    # ChirpStack names the noise profile, the operator chose air quality for this device.
    assert _decoded(CS_TOPIC, _chirpstack("lpp-noise"), pipeline).measurements == MAPPED
    other = Pipeline(device_profiles={"70B3D5499A000002": AIR})
    assert _decoded(TOPIC, _tts(), other).measurements[0] == Measurement("analog_input", 41.27, 4)


def test_a_profile_for_another_decoder_is_not_applied_and_the_state_says_so() -> None:
    foreign = type(AIR)(AIR.name, "elsys", AIR.channels)
    outcome = _decoded(TOPIC, _tts(), Pipeline(device_profiles={EUI: foreign}))
    assert outcome.decoder_version == "1.0.0"
    assert outcome.measurements[0] == Measurement("analog_input", 41.27, 4)
    assert outcome.state_json is not None
    assert orjson.loads(outcome.state_json) == {
        "warnings": ["profile lpp-air-quality is for decoder elsys, not cayenne_lpp: not applied"]
    }


def test_a_frame_the_profile_makes_ambiguous_is_dead_lettered_with_the_reason() -> None:
    # The profile maps analog input 4 onto air_temperature sensor 1, and the frame also has a
    # temperature record on channel 1: two values for one series at one time.
    profile = parse(
        "probe",
        "cayenne_lpp",
        [{"channel": 4, "type": "analog_input", "quantity": "air_temperature", "unit": "Cel",
          "sensor": 1}],
    )  # fmt: skip
    frame = bytes.fromhex("0402101f016700d7")  # analog input 41.27, temperature 21.5 °C
    uplink, letter = Pipeline(device_profiles={EUI: profile}).process(TOPIC, _tts(frame))
    assert isinstance(uplink, DecodedUplink) and isinstance(letter, DeadLetter)
    assert uplink.measurements == ()
    assert letter.reason == (
        "cayenne_lpp 1.0.0: profile probe: the frame has two values of air_temperature on "
        "sensor 1; map one of them to another sensor"
    )


async def test_ingest_takes_up_the_profiles_set_on_devices(pool: asyncpg.Pool) -> None:
    """From the database: the shipped profiles seeded, one set on a device, an operator's own
    profile, and one that the catalogue no longer accepts (not used, decoding goes on)."""
    own = [{"channel": 2, "type": "analog_input", "quantity": "noise_laeq", "unit": "dB"}]
    stale = [{"channel": 2, "type": "analog_input", "quantity": "no2", "unit": "ug/m3"}]
    async with pool.acquire() as conn:
        builtin = await conn.fetchval("SELECT count(*) FROM device_profiles WHERE builtin")
        assert builtin == len(PROFILES)
        await conn.execute(
            "INSERT INTO device_profiles (name, decoder, channels) VALUES "
            "('street-noise', 'cayenne_lpp', $1::jsonb), ('stale', 'cayenne_lpp', $2::jsonb)",
            orjson.dumps(own).decode(),
            orjson.dumps(stale).decode(),
        )
        await conn.execute(
            "INSERT INTO devices (dev_eui, profile, decoder) VALUES ($1, 'lpp-air-quality', NULL),"
            " ('70B3D5499A000002', 'street-noise', NULL), ('70B3D5499A000003', 'stale', NULL),"
            " ('70B3D5499A000004', NULL, 'elsys'), ('70B3D5499A000005', NULL, NULL)",
            EUI,
        )
    settings = IngestSettings(database_url=SecretStr("postgresql://unused"))
    service = Ingest(settings, pool, await Writer.connect(pool))
    await service.refresh_registered_decoders()
    pipeline = service.pipeline
    assert pipeline.registered == {"70B3D5499A000004": "elsys"}
    assert pipeline.device_profiles is not None
    assert {e: (p.name, p.channels) for e, p in pipeline.device_profiles.items()} == {
        EUI: (AIR.name, AIR.channels),
        "70B3D5499A000002": ("street-noise", parse("street-noise", "cayenne_lpp", own).channels),
    }
    assert _decoded(TOPIC, _tts(), pipeline).measurements == MAPPED
