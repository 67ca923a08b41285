"""Virtual devices that publish realistic uplinks, for demos, tests and benchmarks.

fleet = Fleet(spec=load("deploy/fleet.example.toml"))      # or Fleet(10) for climate sensors
uplinks = FaultInjector(fleet, {"duplicate": 0.01}).apply(fleet.timeline(start, end))
publish(paced(uplinks, 60, lambda u: u.published_at), "127.0.0.1", 1883)
"""

from simulator.faults import FAULTS, FaultInjector, parse_rates
from simulator.fleet import Fleet, SimulatedUplink, VirtualDevice, decoded
from simulator.models import MODELS, Channel, DeviceModel
from simulator.pacer import paced
from simulator.publisher import publish
from simulator.recording import Recorded, Recorder, read
from simulator.spec import FleetSpec, Group, load

__all__ = [
    "FAULTS",
    "MODELS",
    "Channel",
    "DeviceModel",
    "FaultInjector",
    "Fleet",
    "FleetSpec",
    "Group",
    "Recorded",
    "Recorder",
    "SimulatedUplink",
    "VirtualDevice",
    "decoded",
    "load",
    "paced",
    "parse_rates",
    "publish",
    "read",
]
