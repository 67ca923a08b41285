"""Which codecs exist, under which key and version, and which device models they serve."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from decoders import (
    bmeters,
    browan,
    cayenne_lpp,
    decentlab,
    dingtek,
    dragino,
    elsys,
    milesight,
    parametric,
    parking,
    sensecap,
)
from decoders.base import Decoded, Measurement
from decoders.rules import RULES


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
        "cayenne_lpp",
        cayenne_lpp.VERSION,
        cayenne_lpp.decode,
        cayenne_lpp.encode,
        "Cayenne Low Power Payload (LPPv1 and extended types)",
    ),
    "dragino_lht65": Codec(
        "dragino_lht65",
        dragino.VERSION,
        dragino.decode_lht65,
        dragino.encode_lht65,
        "Dragino LHT65 / LHT65N temperature and humidity",
    ),
    "dragino_ldds75": Codec(
        "dragino_ldds75",
        dragino.VERSION,
        dragino.decode_ldds75,
        dragino.encode_ldds75,
        "Dragino LDDS75 ultrasonic distance",
    ),
    "dragino_lse01": Codec(
        "dragino_lse01",
        dragino.VERSION,
        dragino.decode_lse01,
        dragino.encode_lse01,
        "Dragino LSE01 soil moisture, temperature and conductivity",
    ),
    "milesight_em300_th": Codec(
        "milesight_em300_th",
        milesight.VERSION,
        milesight.decode,
        milesight.encoder("em300_th"),
        "Milesight EM300-TH temperature and humidity",
    ),
    "milesight_am307": Codec(
        "milesight_am307",
        milesight.VERSION,
        milesight.decode,
        milesight.encoder("am307"),
        "Milesight AM307 indoor ambience",
    ),
    "milesight_em310_udl": Codec(
        "milesight_em310_udl",
        milesight.VERSION,
        milesight.decode,
        milesight.encoder("em310_udl"),
        "Milesight EM310-UDL ultrasonic distance",
    ),
    "milesight_vs121": Codec(
        "milesight_vs121",
        milesight.VERSION,
        milesight.decode,
        milesight.encoder("vs121"),
        "Milesight VS121 workplace occupancy",
    ),
    "milesight_vs330": Codec(
        "milesight_vs330",
        milesight.VERSION,
        milesight.decode,
        milesight.encoder("vs330"),
        "Milesight VS330 bathroom occupancy",
    ),
    "elsys": Codec(
        "elsys",
        elsys.VERSION,
        elsys.decode,
        elsys.encode,
        "Elsys TLV (ERS, ERS CO2, ERS Sound, ERS Eye, EMS Door)",
    ),
    "browan_tbhh100": Codec(
        "browan_tbhh100",
        browan.VERSION,
        browan.decode_tbhh100,
        browan.encode_tbhh100,
        "Browan Tabs TBHH100 temperature and humidity",
    ),
    "browan_tbhv110": Codec(
        "browan_tbhv110",
        browan.VERSION,
        browan.decode_tbhv110,
        browan.encode_tbhv110,
        "Browan Tabs TBHV110 indoor air quality",
    ),
    "browan_tbdw100": Codec(
        "browan_tbdw100",
        browan.VERSION,
        browan.decode_tbdw100,
        browan.encode_tbdw100,
        "Browan Tabs TBDW100 door/window",
    ),
    "decentlab_dl_iam": Codec(
        "decentlab_dl_iam",
        decentlab.VERSION,
        decentlab.decoder("dl_iam"),
        decentlab.encoder("dl_iam"),
        "Decentlab DL-IAM indoor air quality",
    ),
    "decentlab_dl_lp8p": Codec(
        "decentlab_dl_lp8p",
        decentlab.VERSION,
        decentlab.decoder("dl_lp8p"),
        decentlab.encoder("dl_lp8p"),
        "Decentlab DL-LP8P CO2, temperature, humidity, pressure",
    ),
    "decentlab_dl_pm": Codec(
        "decentlab_dl_pm",
        decentlab.VERSION,
        decentlab.decoder("dl_pm"),
        decentlab.encoder("dl_pm"),
        "Decentlab DL-PM particulate matter",
    ),
    "decentlab_dl_mbx": Codec(
        "decentlab_dl_mbx",
        decentlab.VERSION,
        decentlab.decoder("dl_mbx"),
        decentlab.encoder("dl_mbx"),
        "Decentlab DL-MBX ultrasonic distance",
    ),
    "decentlab_dl_smtp": Codec(
        "decentlab_dl_smtp",
        decentlab.VERSION,
        decentlab.decoder("dl_smtp"),
        decentlab.encoder("dl_smtp"),
        "Decentlab DL-SMTP soil moisture and temperature profile",
    ),
    "sensecap": Codec(
        "sensecap",
        sensecap.VERSION,
        sensecap.decode,
        sensecap.encode,
        "SenseCAP S210x (S2101, S2102, S2103, S2104, S2105)",
    ),
    "dingtek_df702": Codec(
        "dingtek_df702",
        dingtek.VERSION,
        dingtek.decode,
        dingtek.encode,
        "Dingtek DF702 waste-bin fill level",
    ),
    "nwave_nps310sm": Codec(
        "nwave_nps310sm",
        parking.VERSION,
        parking.decode_nwave,
        parking.encode_nwave,
        "Nwave NPS310SM parking sensor",
    ),
    "bosch_tps110": Codec(
        "bosch_tps110",
        parking.VERSION,
        parking.decode_bosch,
        parking.encode_bosch,
        "Bosch TPS110 parking lot sensor (PLS firmware 0.39)",
    ),
    "tekzitel_tekzipark": Codec(
        "tekzitel_tekzipark",
        parking.VERSION,
        parking.decode_tekzitel,
        parking.encode_tekzitel,
        "Tekzitel TekziPark parking sensor",
    ),
    "parametric_pcr2": Codec(
        "parametric_pcr2",
        parametric.VERSION,
        parametric.decode,
        parametric.encode,
        "Parametric PCR2 radar people counter",
    ),
    "bmeters_iwm_lr3": Codec(
        "bmeters_iwm_lr3",
        bmeters.VERSION,
        bmeters.decode,
        bmeters.encode,
        "b-meters IWM-LR3 water meter reader",
    ),
}

# Device Repository ids (TTS `version_ids` brand_id/model_id) -> decoder key, from models.toml.
MODELS: dict[tuple[str, str], str] = {
    tuple(model.split("/", 1)): entry["decoder"]  # type: ignore[misc]
    for model, entry in RULES.models.items()
    if "decoder" in entry
}


def decoder_for(
    registered: str | None,
    brand_id: str | None = None,
    model_id: str | None = None,
    default: str | None = None,
) -> Codec | None:
    """Pick a codec, first match wins: registered decoder, Device Repository model, default."""
    if registered and registered in DECODERS:
        return DECODERS[registered]
    if brand_id and model_id:
        key = MODELS.get((brand_id.lower(), model_id.lower()))
        if key is not None:
            return DECODERS[key]
    if default and default in DECODERS:
        return DECODERS[default]
    return None
