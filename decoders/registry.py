"""Which codecs exist, under which key and version, and which device models they serve."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from decoders import cayenne_lpp
from decoders.base import Decoded, Measurement


@dataclass(frozen=True, slots=True)
class Codec:
    """A decoder with its encoder (the simulator's), a version recorded with what it produced."""

    key: str
    version: str
    decode: Callable[[bytes, int], Decoded]
    encode: Callable[[Iterable[Measurement], int], bytes]
    description: str


DECODERS: dict[str, Codec] = {
    "cayenne_lpp": Codec(
        key="cayenne_lpp",
        version=cayenne_lpp.VERSION,
        decode=cayenne_lpp.decode,
        encode=cayenne_lpp.encode,
        description="Cayenne Low Power Payload (LPPv1 and extended types)",
    ),
}

# Device Repository ids (TTS `version_ids` brand_id/model_id) -> decoder key.
MODELS: dict[tuple[str, str], str] = {}


def decoder_for(
    registered: str | None,
    brand_id: str | None = None,
    model_id: str | None = None,
    default: str | None = None,
) -> Codec | None:
    """Pick a codec, first match wins: registered decoder, Device Repository model, default."""
    if registered and registered in DECODERS:
        return DECODERS[registered]
    if brand_id and model_id and (brand_id, model_id) in MODELS:
        return DECODERS[MODELS[(brand_id, model_id)]]
    if default and default in DECODERS:
        return DECODERS[default]
    return None
