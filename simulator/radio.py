"""Gateways on the map and how they hear a device: path loss, spreading factor, airtime.

- Path loss: log-distance model PL(d) = PL(d0) + 10·n·log10(d/d0) + X (shadowing, sigma dB),
  with the LoRa measurements of Petäjäjärvi et al., "On the coverage of LPWANs: range
  evaluation and channel attenuation model for LoRa technology" (ITST 2015):
  PL(1 km) = 128.95 dB; the exponent is raised from their open-land 2.32 to an urban 2.8.
- Noise floor and demodulation floors: Semtech SX1276 datasheet §4.1.1 (thermal noise
  -174 dBm/Hz + 10·log10(BW) + NF 6 dB; SNR limits -7.5 dB at SF7 down to -20 dB at SF12).
- Airtime: Semtech AN1200.13 "LoRa Modem Designer's Guide" time-on-air formula.
- Channels and data rates: LoRaWAN Regional Parameters RP002, EU863-870 (DR0 = SF12 ... DR5 = SF7).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# EU868 default + common extra channels (RP002 §2.4.2; TTN frequency plan EU_863_870_TTN).
EU868_CHANNELS = (
    868_100_000, 868_300_000, 868_500_000, 867_100_000,
    867_300_000, 867_500_000, 867_700_000, 867_900_000,
)  # fmt: skip
BANDWIDTH_HZ = 125_000
TX_POWER_DBM = 14.0  # EU868 max EIRP 16 dBm minus ~2 dB antenna/cable loss of a small sensor
GATEWAY_GAIN_DBI = 3.0
NOISE_FIGURE_DB = 6.0
PL_D0_DB = 128.95  # at d0 = 1 km
PATH_LOSS_EXPONENT = 2.8
SHADOWING_SIGMA_DB = 6.0
ADR_MARGIN_DB = 10.0  # installation margin the network keeps when it picks a data rate
# Demodulator SNR limit per spreading factor (SX1276 datasheet table 13).
SNR_LIMIT_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
NOISE_FLOOR_DBM = -174 + 10 * math.log10(BANDWIDTH_HZ) + NOISE_FIGURE_DB  # ≈ -117 dBm
LORAWAN_OVERHEAD_B = 13  # MHDR 1 + FHDR 7 (no FOpts) + FPort 1 + MIC 4
_EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Gateway:
    gateway_id: str
    eui: str  # 16 hex, upper case
    latitude: float
    longitude: float
    altitude: float = 0.0


@dataclass(frozen=True, slots=True)
class Heard:
    """One gateway's reception of an uplink."""

    gateway: Gateway
    rssi: int
    snr: float
    distance_m: float


@dataclass(frozen=True, slots=True)
class Reception:
    """How the network heard an uplink: transmission settings and every gateway that heard it."""

    spreading_factor: int
    frequency: int
    channel_index: int
    airtime_s: float
    heard: tuple[Heard, ...]

    @property
    def data_rate(self) -> int:
        """EU868 data rate index: DR5 = SF7 ... DR0 = SF12."""
        return 12 - self.spreading_factor


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return float(2 * _EARTH_RADIUS_M * math.asin(math.sqrt(a)))


def mean_rssi(d_m: float) -> float:
    """RSSI in dBm at distance `d_m` without shadowing."""
    path_loss = PL_D0_DB + 10 * PATH_LOSS_EXPONENT * math.log10(max(d_m, 10.0) / 1000)
    return TX_POWER_DBM + GATEWAY_GAIN_DBI - path_loss


def spreading_factor_for(snr_db: float) -> int:
    """The fastest SF whose demodulation floor the link clears with the ADR margin to spare."""
    for sf in range(7, 13):
        if snr_db - ADR_MARGIN_DB >= SNR_LIMIT_DB[sf]:
            return sf
    return 12


def airtime_s(payload_len: int, sf: int, bandwidth: int = BANDWIDTH_HZ) -> float:
    """LoRa time on air of a LoRaWAN uplink with `payload_len` FRMPayload bytes.

    AN1200.13: explicit header, CRC on, coding rate 4/5, 8 preamble symbols, low data rate
    optimisation at SF11/12 on 125 kHz.
    """
    phy_len = LORAWAN_OVERHEAD_B + payload_len
    t_sym = float(2**sf) / bandwidth
    de = 1 if sf >= 11 and bandwidth == 125_000 else 0
    cr = 1  # 4/5
    numerator = 8 * phy_len - 4 * sf + 28 + 16
    symbols = 8 + max(math.ceil(numerator / (4 * (sf - 2 * de))) * (cr + 4), 0)
    return (8 + 4.25) * t_sym + symbols * t_sym


def snr_of(rssi: float) -> float:
    """SNR as a concentrator reports it: above the noise floor, saturating near +13 dB."""
    return min(13.5, rssi - NOISE_FLOOR_DBM)


@dataclass(frozen=True, slots=True)
class Link:
    """A device's static link to the gateways: mean RSSI per gateway and the SF ADR settles on."""

    means: tuple[tuple[Gateway, float, float], ...]  # gateway, distance m, mean RSSI; best first
    spreading_factor: int

    @classmethod
    def between(cls, latitude: float, longitude: float, gateways: tuple[Gateway, ...]) -> Link:
        if not gateways:
            raise ValueError("a fleet needs at least one gateway")
        means = sorted(
            (
                (g, d, mean_rssi(d))
                for g in gateways
                for d in (distance_m(latitude, longitude, g.latitude, g.longitude),)
            ),
            key=lambda item: -item[2],
        )
        return cls(tuple(means), spreading_factor_for(snr_of(means[0][2])))

    def receive(self, payload_len: int, rng: random.Random) -> Reception:
        """One transmission: shadowing per gateway; the best gateway always hears it (ADR keeps
        the link alive), the others when their SNR clears the demodulation floor."""
        sf = self.spreading_factor
        channel = rng.randrange(len(EU868_CHANNELS))
        heard: list[Heard] = []
        for i, (gateway, d, mean) in enumerate(self.means):
            rssi = mean + rng.gauss(0, SHADOWING_SIGMA_DB)
            snr = snr_of(rssi)
            if i == 0 or snr >= SNR_LIMIT_DB[sf]:
                # A reception below the floor cannot be reported; the best gateway, always
                # heard, is clamped to just above it.
                snr = max(snr, SNR_LIMIT_DB[sf] + 0.25)
                heard.append(Heard(gateway, round(rssi), round(snr * 4) / 4, d))
        return Reception(
            spreading_factor=sf,
            frequency=EU868_CHANNELS[channel],
            channel_index=channel,
            airtime_s=airtime_s(payload_len, sf),
            heard=tuple(heard),
        )
