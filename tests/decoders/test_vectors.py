"""Every vendor example from the Device Repository, decoded natively and compared field by field.

The vendor's output is mapped onto the catalogue with the model's field map from `models.toml`
(the same map ingest uses for a network server's decoded object); numbers compare to the
precision the vendor printed. `also` lists measurements we decode that the vendor's codec drops;
`override` replaces vendor values that contradict the vendor's published layout (see `note`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from decoders import fieldmap
from decoders.base import DecodeError
from decoders.registry import decoder_for
from decoders.rules import RULES

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))


def _cases() -> list[Any]:
    cases = []
    for path in VECTORS:
        model = json.loads(path.read_text(encoding="utf-8"))
        for example in model["examples"]:
            test_id = f"{model['brand_id']}/{model['model_id']}: {example['description']}"
            cases.append(pytest.param(model, example, id=test_id))
    return cases


def _decimals(vendor_value: Any) -> int:
    text = vendor_value if isinstance(vendor_value, str) else json.dumps(vendor_value)
    number = fieldmap._NUMBER.match(text)
    if number is None:
        return 0
    exponent = Decimal(number.group(1)).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@pytest.mark.parametrize(("model", "example"), _cases())
def test_vendor_vector(model: dict[str, Any], example: dict[str, Any]) -> None:
    codec = decoder_for(None, model["brand_id"], model["model_id"])
    assert codec is not None, f"no decoder for {model['brand_id']}/{model['model_id']}"
    payload = bytes.fromhex(example["bytes_hex"])
    if "errors" in example:
        with pytest.raises(DecodeError):
            codec.decode(payload, example["f_port"])
        return
    decoded = codec.decode(payload, example["f_port"])
    vendor = {**example["expected"], **example.get("override", {})}
    entry = RULES.models[f"{model['brand_id']}/{model['model_id']}"]
    fmap = RULES.fieldmaps[entry["fieldmap"]]

    assert set(vendor) == fieldmap.covered(vendor, fmap), "vendor fields the field map loses"

    ours = {(m.quantity, m.sensor): m.value for m in decoded.measurements}
    assert len(ours) == len(decoded.measurements), "two values for one quantity and sensor"
    expected_keys = set()
    for e in fieldmap.extract(vendor, fmap):
        if e.quantity is None:
            assert decoded.state.get(e.state_key) == e.value, e.path
            continue
        key = (e.quantity, e.sensor)
        expected_keys.add(key)
        assert key in ours, f"{e.path}: no {key} decoded"
        digits = _decimals(e.vendor_value)
        assert round(ours[key] / e.scale, digits) == round(e.value / e.scale, digits), e.path
    for extra in example.get("also", []):
        key = (extra["quantity"], extra.get("sensor", 0))
        expected_keys.add(key)
        assert ours[key] == extra["value"]
    assert set(ours) == expected_keys, "measurements the vendor's output does not account for"
