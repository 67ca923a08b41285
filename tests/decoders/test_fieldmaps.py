"""Field maps of models.toml against objects as the vendors' decoders emit them (by hand)."""

from __future__ import annotations

from decoders import fieldmap
from decoders.base import Measurement
from decoders.rules import RULES


def _apply(name: str, obj: dict[str, object]) -> tuple[Measurement, ...]:
    return fieldmap.apply(obj, RULES.fieldmaps[name]).measurements


def test_dragino_illuminance_key_is_ill_lx() -> None:
    # lht65.js mode 5: data.ILL_lx = bytes[7] << 8 | bytes[8]
    assert _apply("dragino_lht65", {"ILL_lx": 321}) == (Measurement("illuminance", 321.0),)


def test_elsys_acceleration_uses_standard_gravity() -> None:
    # 63 counts = 1 G = 9.80665 m/s2 (CGPM standard gravity)
    assert _apply("elsys", {"x": 63}) == (Measurement("acceleration_x", 9.80665),)


def test_pcr2_sbx_batt_is_not_read_as_volts() -> None:
    # v3 payload: SBX_BATT = bytes[11], a battery gauge in percent; the object does not say so
    decoded = fieldmap.apply({"SBX_BATT": 85}, RULES.fieldmaps["parametric_pcr2"])
    assert decoded.measurements == ()
    assert decoded.state == {"sbx_batt": 85.0}


def test_iwm_lr3_volume_follows_the_vif() -> None:
    fmap = "bmeters_iwm_lr3"
    assert _apply(fmap, {"valueCounter": 7, "vif": 13}) == (Measurement("water_volume", 7.0),)
    assert _apply(fmap, {"valueCounter": 7, "vif": 140}) == (Measurement("water_volume", 70.0),)
    assert _apply(fmap, {"valueCounter": 7}) == ()  # 0x0F: the vendor's decoder drops the vif
