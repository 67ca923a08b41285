"""The quantity catalogue: canonical keys, SenML units and how each quantity aggregates.

This is the single source of truth; `meetnet migrate` seeds it into the `quantities` table and the
API serves it. Units are SenML (RFC 8428 / RFC 8798) symbols; "" marks a dimensionless state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Aggregation(StrEnum):
    """How values of a quantity combine over a time bucket (README "Aggregation")."""

    MEAN = "mean"
    SUM = "sum"  # counts since the previous uplink: people passing, events
    ENERGY_MEAN = "energy_mean"  # decibels: 10*log10(mean(10^(L/10)))
    MAX = "max"
    STATE = "state"  # last value wins: occupancy, open/closed
    # Angles in degrees: the direction of the mean unit vector, atan2(sum sin, sum cos), so that
    # 350 and 10 average to 0, not 180.
    CIRCULAR_MEAN = "circular_mean"
    # Cumulative readings (meter indexes, totalisers): a bucket's value is its last reading, and
    # its delta what was added since the reading before the bucket, never a mean. A reading below
    # the one before it is a reset (meter replaced, rolled over): counting starts again from zero
    # (api/series.py `_with_deltas`).
    COUNTER = "counter"


@dataclass(frozen=True, slots=True)
class Quantity:
    """`generic`: a format's catch-all type (CayenneLPP analog input, ...) whose meaning and unit
    depend on the device; a device profile maps it onto what it measures. Values of a generic
    quantity from different devices are never combined (a zone would mix units)."""

    key: str
    unit: str
    aggregation: Aggregation
    description: str
    generic: bool = False


def _q(key: str, unit: str, aggregation: Aggregation, description: str) -> Quantity:
    return Quantity(key, unit, aggregation, description)


def _generic(key: str, unit: str, aggregation: Aggregation, description: str) -> Quantity:
    return Quantity(key, unit, aggregation, description, generic=True)


_M, _S, _E, _X, _ST, _C, _K = (
    Aggregation.MEAN,
    Aggregation.SUM,
    Aggregation.ENERGY_MEAN,
    Aggregation.MAX,
    Aggregation.STATE,
    Aggregation.CIRCULAR_MEAN,
    Aggregation.COUNTER,
)

QUANTITIES: dict[str, Quantity] = {
    q.key: q
    for q in (
        _q("air_temperature", "Cel", _M, "Air temperature"),
        _q("relative_humidity", "%RH", _M, "Relative humidity of the air"),
        _q("barometric_pressure", "hPa", _M, "Barometric (air) pressure"),
        _q("co2", "ppm", _M, "Carbon dioxide concentration"),
        _q("tvoc", "ppb", _M, "Total volatile organic compounds"),
        _q("no2", "ppb", _M, "Nitrogen dioxide concentration"),
        _q("pm1", "ug/m3", _M, "PM1 particulate mass concentration"),
        _q("pm2_5", "ug/m3", _M, "PM2.5 particulate mass concentration"),
        _q("pm4", "ug/m3", _M, "PM4 particulate mass concentration"),
        _q("pm10", "ug/m3", _M, "PM10 particulate mass concentration"),
        _q("noise_laeq", "dB", _E, "A-weighted equivalent continuous sound level (LAeq)"),
        _q("noise_lamax", "dB", _X, "A-weighted maximum sound level (LAmax)"),
        _q("illuminance", "lx", _M, "Illuminance"),
        _q("presence", "", _ST, "Presence detected (1) or not (0)"),
        _q("motion_count", "count", _S, "Motion events counted"),
        _q("people_count", "count", _S, "People counted"),
        _q("distance", "m", _M, "Distance measured by a range sensor"),
        _q("fill_level", "%", _M, "Fill level of a container"),
        _q("parking_occupied", "", _ST, "Parking space occupied (1) or free (0)"),
        _q("pm0_5_count", "1/cm3", _M, "Particles up to 0.5 um per cm3 (not a SenML unit)"),
        _q("pm1_count", "1/cm3", _M, "Particles up to 1 um per cm3 (not a SenML unit)"),
        _q("pm2_5_count", "1/cm3", _M, "Particles up to 2.5 um per cm3 (not a SenML unit)"),
        _q("pm4_count", "1/cm3", _M, "Particles up to 4 um per cm3 (not a SenML unit)"),
        _q("pm10_count", "1/cm3", _M, "Particles up to 10 um per cm3 (not a SenML unit)"),
        _q(
            "occupancy",
            "",
            _ST,
            "Room or area occupied (1), free (0); 2 where a device reports 'many'",
        ),
        _q("people_count_in", "count", _S, "People counted moving in the device's 'in' direction"),
        _q(
            "people_count_out", "count", _S, "People counted moving in the device's 'out' direction"
        ),
        _q("water_level", "m", _M, "Water level above the sensor's reference"),
        _q("door_open", "", _ST, "Door or window contact open (1) or closed (0)"),
        _q("soil_moisture", "%", _M, "Volumetric soil water content"),
        _q(
            "soil_moisture_index",
            "",
            _M,
            "Soil moisture on the probe's own scale (not a percentage)",
        ),
        _q("soil_temperature", "Cel", _M, "Soil temperature"),
        _q("soil_conductivity", "S/m", _M, "Electrical conductivity of the soil"),
        _q("water_volume", "l", _K, "Water meter index (cumulative volume)"),
        _q("gas_volume", "m3", _K, "Gas meter index (cumulative volume)"),
        _q("wind_direction", "deg", _C, "Direction the wind comes from (compass degrees)"),
        _q("wind_speed", "m/s", _M, "Wind speed"),
        _q(
            "device_temperature",
            "Cel",
            _M,
            "Temperature inside the device (board, CPU), not the air",
        ),
        _q(
            "surface_temperature",
            "Cel",
            _M,
            "Temperature of the surface an infrared sensor looks at",
        ),
        _q("battery_voltage", "V", _M, "Battery voltage"),
        _q("battery_level", "%EL", _M, "Remaining battery charge"),
        _q("latitude", "lat", _ST, "GPS latitude (WGS84)"),
        _q("longitude", "lon", _ST, "GPS longitude (WGS84)"),
        _q("altitude", "m", _M, "Altitude above sea level"),
        # Generic CayenneLPP types: meaning depends on the device's channel assignment.
        _generic("digital_input", "", _ST, "Digital input state"),
        _generic("digital_output", "", _ST, "Digital output state"),
        _generic("analog_input", "", _M, "Analog input value"),
        _generic("analog_output", "", _M, "Analog output value"),
        _generic("generic", "", _M, "Generic sensor value"),
        _q("acceleration_x", "m/s2", _M, "Acceleration along the X axis"),
        _q("acceleration_y", "m/s2", _M, "Acceleration along the Y axis"),
        _q("acceleration_z", "m/s2", _M, "Acceleration along the Z axis"),
        _q("angular_velocity_x", "deg/s", _M, "Angular velocity around the X axis"),
        _q("angular_velocity_y", "deg/s", _M, "Angular velocity around the Y axis"),
        _q("angular_velocity_z", "deg/s", _M, "Angular velocity around the Z axis"),
        _q("voltage", "V", _M, "Electric potential"),
        _q("current", "A", _M, "Electric current"),
        _q("frequency", "Hz", _M, "Frequency"),
        _generic("percentage", "%", _M, "Generic percentage"),
        _generic("concentration", "ppm", _M, "Generic gas concentration"),
        _q("power", "W", _M, "Electric power"),
        _q("energy", "kWh", _K, "Energy meter index (cumulative energy)"),
        _q("direction", "deg", _C, "Direction (compass degrees)"),
        _q("colour_red", "", _M, "Colour sensor, red component (0-255)"),
        _q("colour_green", "", _M, "Colour sensor, green component (0-255)"),
        _q("colour_blue", "", _M, "Colour sensor, blue component (0-255)"),
        _q("switch", "", _ST, "Switch state, on (1) or off (0)"),
    )
}
