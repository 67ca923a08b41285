"""Decoder selection, first match wins, and the field maps of `models.toml`."""

from __future__ import annotations

from decoders.base import Measurement
from decoders.registry import DECODERS, MODELS, decoder_for
from decoders.rules import RULES, parse
from decoders.selection import decode_object, select


def test_registered_decoder_wins_over_everything() -> None:
    s = select("elsys", "dragino", "lht65", "acme-lse01", {"temperature_1": 1.0})
    assert (s.source, s.decoder_key) == ("registered", "elsys")


def test_version_ids_then_device_profile() -> None:
    assert select(None, "Dragino", "LHT65N").decoder_key == "dragino_lht65"
    s = select(None, "unknown", "thing", "Gemeente DL-PM v2")
    assert (s.source, s.decoder_key) == ("device_profile", "decentlab_dl_pm")


def test_the_default_decoder_comes_last() -> None:
    lpp = DECODERS["cayenne_lpp"]
    s = select(None, "unknown", "thing", "unmapped profile", default=lpp)
    assert (s.source, s.decoder_key) == ("default", "cayenne_lpp")
    assert select(None, "Dragino", "LHT65N", default=lpp).decoder_key == "dragino_lht65"
    assert select(None, "unknown", "thing").source == "none"


def test_decoded_object_from_a_codec_we_have_decodes_the_frame_natively() -> None:
    """A CayenneLPP-shaped object tells the frame is LPP: our codec keeps its exact resolution."""
    obj = {"temperatureSensor": {"3": 27.2}, "humiditySensor": {"3": 40}}
    s = select(None, None, None, "unmapped profile", obj)
    assert (s.source, s.fieldmap, s.decoder_key, s.decoder_version) == (
        "decoded_object",
        None,
        "cayenne_lpp",
        "1.0.0",
    )
    tts_lpp = {"temperature_1": 22.5, "barometric_pressure_3": 1021.2999877929688}
    assert select(decoded_object=tts_lpp).decoder_key == "cayenne_lpp"


def test_default_field_map_applies_to_the_object() -> None:
    obj = {"temperatureSensor": {"3": 27.2}, "humiditySensor": {"3": 40}}
    assert decode_object("cayenne_chirpstack", obj).measurements == (
        Measurement("air_temperature", 27.2, sensor=3),
        Measurement("relative_humidity", 40.0, sensor=3),
    )


def test_tts_normalized_payload() -> None:
    obj = {"air": {"temperature": 20.0, "relativeHumidity": 30.0}, "battery": 3.1}
    assert select(decoded_object=obj).fieldmap == "tts_normalized"


def test_model_without_native_decoder_uses_its_field_map() -> None:
    rules = parse(
        '[models]\n"acme/q1" = { fieldmap = "q1" }\n[fieldmaps.q1]\nt = "air_temperature"\n'
    )
    s = select(None, "acme", "q1", None, {"t": 21.5}, rules=rules)
    assert (s.source, s.fieldmap) == ("decoded_object", "q1")


def test_nothing_matches() -> None:
    s = select(None, "acme", "q1", "whatever", {"foo": "bar"})
    assert (s.source, s.codec, s.decoder_key) == ("none", None, None)


def test_legacy_decoder_for_still_works() -> None:
    codec = decoder_for(None, "milesight-iot", "em300-th", "cayenne_lpp")
    assert codec is not None and codec.key == "milesight_em300_th"
    fallback = decoder_for(None, "acme", "q1", "cayenne_lpp")
    assert fallback is not None and fallback.key == "cayenne_lpp"


def test_rules_name_only_known_decoders_and_field_maps() -> None:
    for model, entry in RULES.models.items():
        assert entry.get("decoder") is None or entry["decoder"] in DECODERS, model
        assert entry.get("fieldmap") is None or entry["fieldmap"] in RULES.fieldmaps, model
    for target in RULES.profiles.values():
        assert target in DECODERS or target in RULES.models, target
    assert set(MODELS.values()) <= set(DECODERS)
    assert all(codec.version for codec in DECODERS.values())
