"""Operator-configured JavaScript codecs: loaded from a folder, selected, run under limits."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from decoders import Measurement
from ingest.codecs import CodecConfigError, load_js_codecs
from ingest.model import DeadLetter, DecodedUplink, Stage
from ingest.pipeline import Pipeline

TOPIC = "v3/city@ttn/devices/q1/up"

# Written for this suite: temperature in 0.01 °C (int16 BE), humidity in % (u8), non-strict JS.
AIR_Q1 = """
function decodeUplink(input) {
  t = (input.bytes[0] << 8) | input.bytes[1];
  if (t > 0x7fff) t -= 0x10000;
  return { data: { temperature: t / 100, humidity: input.bytes[2], note: undefined },
           warnings: input.bytes.length > 3 ? ["trailing bytes"] : [] };
}
"""
AIR_Q1_TOML = """
models = ["acme/air-q1"]
profiles = ["*air-q1*"]
version = "2025-03"
[fields]
temperature = "air_temperature"
humidity = "relative_humidity"
note = { state = "note" }
"""
HANGS = "function decodeUplink(input) { while (true) {} }"
HANGS_TOML = 'models = ["acme/stuck"]\n[fields]\nt = "air_temperature"\n'


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "air-q1.js").write_text(AIR_Q1)
    (tmp_path / "air-q1.toml").write_text(AIR_Q1_TOML)
    (tmp_path / "stuck.js").write_text(HANGS)
    (tmp_path / "stuck.toml").write_text(HANGS_TOML)
    return tmp_path


def _message(model: str, frame: bytes) -> bytes:
    brand, model_id = model.split("/")
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": "q1", "dev_eui": "0004A30B001C0530"},
            "uplink_message": {
                "f_port": 1,
                "f_cnt": 3,
                "frm_payload": base64.b64encode(frame).decode(),
                "received_at": "2025-03-14T08:15:02Z",
                "version_ids": {"brand_id": brand, "model_id": model_id},
            },
        }
    )


def test_configured_codec_decodes_devices_of_its_model(tmp_path: Path) -> None:
    codecs, rules = load_js_codecs(_folder(tmp_path))
    pipeline = Pipeline(default_decoder=None, codecs=codecs, rules=rules)
    (outcome,) = pipeline.process(TOPIC, _message("acme/air-q1", bytes([0xF8, 0x30, 55])))
    assert isinstance(outcome, DecodedUplink)
    assert (outcome.decoder, outcome.decoder_version) == ("js:air-q1", "2025-03")
    assert outcome.measurements == (
        Measurement("air_temperature", -20.0),
        Measurement("relative_humidity", 55.0),
    )


def test_codec_that_hangs_is_a_dead_letter_not_a_stuck_ingester(tmp_path: Path) -> None:
    codecs, rules = load_js_codecs(_folder(tmp_path))
    pipeline = Pipeline(default_decoder=None, codecs=codecs, rules=rules)
    body = _message("acme/stuck", b"\x01")
    uplink, letter = pipeline.process(TOPIC, body)
    assert isinstance(uplink, DecodedUplink) and uplink.measurements == ()
    assert isinstance(letter, DeadLetter) and letter.stage is Stage.DECODE
    assert letter.reason.startswith("js:stuck ")
    assert "exceeded 100 ms" in letter.reason
    # The next message still decodes: the engine was interrupted, not wedged.
    (again,) = pipeline.process(TOPIC, _message("acme/air-q1", bytes([0x09, 0xC4, 40])))
    assert isinstance(again, DecodedUplink) and again.measurements[0].value == 25.0


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.js": AIR_Q1}, "has no a.toml beside it"),
        ({"a.js": AIR_Q1, "a.toml": "models = ["}, "a.toml: "),
        ({"a.js": AIR_Q1, "a.toml": 'models = ["x/y"]'}, "needs a [fields] table"),
        ({"a.js": "var x = 1;", "a.toml": AIR_Q1_TOML}, "defines no decodeUplink"),
    ],
    ids=["no config", "bad toml", "no fields", "no decodeUplink"],
)
def test_bad_configuration_is_refused_at_start(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(CodecConfigError, match=message.replace("[", r"\[")):
        load_js_codecs(tmp_path)
