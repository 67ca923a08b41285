"""Device models the simulator can field: a codec key, a port, and a value model per quantity.

Adding a device is a table entry: name the codec in `decoders.DECODERS`, the port its encoder
expects, the quantities it reports (as that codec decodes them) with their value models, and the
Device Repository ids TTS would put in `version_ids`.

CayenneLPP has no NO2, PM, noise or people-count type, so the LPP models carry those on generic
channels (`analog_input`, `generic`); the `meaning` column says what a channel stands for, and
the device profile named by `profile` (decoders/profiles.toml, also the ChirpStack device profile
name) maps them onto catalogue quantities. Native codecs (Dragino, Milesight, Elsys, Decentlab,
...) carry them as catalogue quantities.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.patterns import (
    Battery,
    BinFill,
    Daily,
    Daylight,
    Derived,
    Occupancy,
    PeopleCount,
    RandomWalk,
    RushHour,
    ValueModel,
)


@dataclass(frozen=True, slots=True)
class Channel:
    """One reported value: the quantity key as the codec decodes it, its sensor index, its model."""

    quantity: str
    sensor: int
    values: ValueModel | Derived  # Derived: computed from an earlier channel
    meaning: str = ""  # what a generic channel stands for, e.g. "no2 (ppb)"


@dataclass(frozen=True, slots=True)
class VersionIds:
    """TTS Device Repository identifiers (formats.md §1.4 `version_ids`)."""

    brand_id: str
    model_id: str
    hardware_version: str = ""
    firmware_version: str = ""
    band_id: str = "EU_863_870"


@dataclass(frozen=True, slots=True)
class DeviceModel:
    name: str
    codec: str  # key in decoders.DECODERS
    f_port: int
    channels: tuple[Channel, ...]
    interval_s: float = 600.0  # default reporting interval
    version_ids: VersionIds | None = None  # None: registered by hand, TTS sends no version_ids
    profile: str = ""  # ChirpStack device profile name; also the device profile, if one has it
    description: str = ""


_BATTERY = Channel("voltage", 9, Battery(), "battery_voltage (V)")
_TEMPERATURE = Daily(mean=11, amplitude=6, peak_hour=15, noise=0.3, spread=1.5, lo=-30, hi=45)
_HUMIDITY = Daily(mean=70, amplitude=15, peak_hour=4, noise=2, spread=5, lo=10, hi=100)
_PRESSURE = RandomWalk(mean=1013, step=0.3, lo=960, hi=1050)
# Battery charge in percent, as Milesight devices report it: the same slow drain, in %.
_BATTERY_PERCENT = Battery(full_v=(96, 100), per_uplink_v=0.0002, empty_v=0.0, noise=0.0)
_INDOOR_TEMPERATURE = Daily(mean=21, amplitude=1.5, peak_hour=16, noise=0.2, lo=10, hi=35)
_INDOOR_HUMIDITY = Daily(mean=45, amplitude=5, peak_hour=6, noise=1, lo=15, hi=90)
_INDOOR_CO2 = RushHour(base=500, peak=1100, morning=10, evening=15, noise=30, lo=400, hi=5000)


def _native(
    name: str,
    codec: str,
    f_port: int,
    brand_model: tuple[str, str],
    channels: tuple[Channel, ...],
    interval_s: float,
    description: str,
) -> DeviceModel:
    """A vendor device with its own codec; TTS names it in version_ids, ChirpStack by profile."""
    brand, model = brand_model
    return DeviceModel(
        name=name,
        codec=codec,
        f_port=f_port,
        channels=channels,
        interval_s=interval_s,
        version_ids=VersionIds(brand, model, "1.0", "1.0"),
        profile=f"{brand}-{model}",
        description=description,
    )


MODELS: dict[str, DeviceModel] = {
    m.name: m
    for m in (
        DeviceModel(
            name="climate",
            codec="cayenne_lpp",
            f_port=2,
            channels=(
                Channel("air_temperature", 1, _TEMPERATURE),
                Channel("relative_humidity", 2, _HUMIDITY),
                Channel("barometric_pressure", 3, _PRESSURE),
            ),
            profile="lpp-climate",
            description="Outdoor temperature, humidity and pressure (CayenneLPP)",
        ),
        DeviceModel(
            name="air-quality",
            codec="cayenne_lpp",
            f_port=3,
            channels=(
                Channel("air_temperature", 1, _TEMPERATURE),
                Channel("relative_humidity", 2, _HUMIDITY),
                Channel(
                    "analog_input",
                    4,
                    RushHour(base=12, peak=45, night_dip=6, noise=2, lo=0, hi=300),
                    "no2 (ppb)",
                ),
                Channel(
                    "concentration",
                    5,
                    RushHour(base=420, peak=520, noise=8, lo=380, hi=5000),
                    "co2 (ppm)",
                ),
                Channel(
                    "analog_input",
                    6,
                    RushHour(base=8, peak=22, night_dip=3, noise=1.5, lo=0, hi=300),
                    "pm2_5 (ug/m3)",
                ),
                Channel(
                    "analog_input",
                    7,
                    RushHour(base=15, peak=38, night_dip=5, noise=2.5, lo=0, hi=300),
                    "pm10 (ug/m3)",
                ),
                _BATTERY,
            ),
            interval_s=900,
            profile="lpp-air-quality",
            description="Street air quality: NO2, PM and CO2 peaking at rush hour (CayenneLPP)",
        ),
        DeviceModel(
            name="noise",
            codec="cayenne_lpp",
            f_port=4,
            channels=(
                Channel(
                    "analog_input",
                    1,
                    RushHour(base=52, peak=68, night_dip=10, noise=1.5, lo=25, hi=110),
                    "noise_laeq (dB)",
                ),
                Channel(
                    "analog_input",
                    2,
                    RushHour(base=65, peak=84, night_dip=12, noise=4, lo=30, hi=125),
                    "noise_lamax (dB)",
                ),
                _BATTERY,
            ),
            interval_s=300,
            profile="lpp-noise",
            description="Sound level meter: LAeq and LAmax over the interval (CayenneLPP)",
        ),
        DeviceModel(
            name="parking",
            codec="cayenne_lpp",
            f_port=5,
            channels=(Channel("presence", 1, Occupancy(), "parking_occupied"), _BATTERY),
            interval_s=300,
            profile="lpp-parking",
            description="In-ground parking bay sensor (CayenneLPP presence)",
        ),
        DeviceModel(
            name="bin",
            codec="cayenne_lpp",
            f_port=6,
            channels=(
                Channel("percentage", 2, BinFill(), "fill_level (%)"),
                # An empty 1.2 m bin reads 1.2 m from lid to bottom; a full one 0 m.
                Channel("distance", 1, Derived(("percentage", 2), -0.012, 1.2), "lid to waste (m)"),
                _BATTERY,
            ),
            interval_s=1800,
            profile="lpp-bin",
            description="Waste bin fill sensor: ultrasonic distance and fill (CayenneLPP)",
        ),
        DeviceModel(
            name="people-counter",
            codec="cayenne_lpp",
            f_port=7,
            channels=(Channel("generic", 1, PeopleCount(), "people_count"), _BATTERY),
            interval_s=900,
            profile="lpp-people-counter",
            description="People passing since the previous uplink (CayenneLPP generic)",
        ),
        DeviceModel(
            name="light",
            codec="cayenne_lpp",
            f_port=8,
            channels=(Channel("illuminance", 1, Daylight()), _BATTERY),
            interval_s=900,
            profile="lpp-light",
            description="Ambient light (CayenneLPP illuminance)",
        ),
        _native(
            "dragino-lht65",
            "dragino_lht65",
            2,
            ("dragino", "lht65"),
            (
                Channel("battery_voltage", 0, Battery()),
                Channel("air_temperature", 0, _TEMPERATURE),
                Channel("relative_humidity", 0, _HUMIDITY),
                Channel("air_temperature", 1, _TEMPERATURE),  # external DS18B20 probe
            ),
            1200,
            "Dragino LHT65 temperature and humidity, with an external probe",
        ),
        _native(
            "milesight-em300-th",
            "milesight_em300_th",
            85,
            ("milesight-iot", "em300-th"),
            (
                Channel("battery_level", 0, _BATTERY_PERCENT),
                Channel("air_temperature", 0, _TEMPERATURE),
                Channel("relative_humidity", 0, _HUMIDITY),
            ),
            600,
            "Milesight EM300-TH temperature and humidity",
        ),
        _native(
            "elsys-ers-sound",
            "elsys",
            5,
            ("elsys", "ers-sound"),
            (
                Channel("air_temperature", 0, _INDOOR_TEMPERATURE),
                Channel("relative_humidity", 0, _INDOOR_HUMIDITY),
                Channel("illuminance", 0, Daylight(peak=800)),
                Channel("motion_count", 0, PeopleCount(peak_per_hour=40)),
                Channel(
                    "noise_lamax",
                    0,
                    RushHour(base=55, peak=75, night_dip=15, noise=3, lo=30, hi=120),
                ),
                Channel(
                    "noise_laeq",
                    0,
                    RushHour(base=45, peak=62, night_dip=12, noise=1.5, lo=25, hi=110),
                ),
            ),
            600,
            "Elsys ERS Sound: indoor climate, motion and sound level",
        ),
        _native(
            "decentlab-dl-lp8p",
            "decentlab_dl_lp8p",
            1,
            ("decentlab", "dl-lp8p"),
            (
                Channel("air_temperature", 0, _TEMPERATURE),
                Channel("relative_humidity", 0, _HUMIDITY),
                Channel("barometric_pressure", 0, _PRESSURE),
                Channel("co2", 0, RushHour(base=420, peak=520, noise=8, lo=380, hi=5000)),
                Channel("battery_voltage", 0, Battery()),
            ),
            600,
            "Decentlab DL-LP8P CO2, temperature, humidity and pressure",
        ),
        _native(
            "browan-tbhv110",
            "browan_tbhv110",
            103,
            ("browan", "tbhv110"),
            (
                Channel("battery_voltage", 0, Battery()),
                Channel("device_temperature", 0, _INDOOR_TEMPERATURE),
                Channel("relative_humidity", 0, _INDOOR_HUMIDITY),
                Channel("co2", 0, _INDOOR_CO2),
                Channel("tvoc", 0, RushHour(base=80, peak=300, noise=10, lo=0, hi=2000)),
                Channel("air_temperature", 0, _INDOOR_TEMPERATURE),
            ),
            900,
            "Browan TBHV110 indoor air quality: CO2 and TVOC",
        ),
        _native(
            "nwave-nps310sm",
            "nwave_nps310sm",
            1,
            ("nwave", "nps310sm"),
            (Channel("parking_occupied", 0, Occupancy()),),
            300,
            "Nwave in-ground parking sensor",
        ),
        _native(
            "milesight-vs121",
            "milesight_vs121",
            85,
            ("milesight-iot", "vs121"),
            (Channel("people_count", 0, PeopleCount(peak_per_hour=300)),),
            900,
            "Milesight VS121 people counter",
        ),
    )
}
