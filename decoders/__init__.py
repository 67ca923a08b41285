"""Pure payload codecs and the quantity catalogue.

Nothing here logs, reads the clock, touches the environment or does I/O: bytes and a port go in,
a `Decoded` comes out (or one `DecodeError`).
"""

from decoders.base import Decoded, DecodeError, Measurement
from decoders.catalogue import QUANTITIES, Quantity
from decoders.registry import DECODERS, Codec, decoder_for

__all__ = [
    "DECODERS",
    "QUANTITIES",
    "Codec",
    "DecodeError",
    "Decoded",
    "Measurement",
    "Quantity",
    "decoder_for",
]
