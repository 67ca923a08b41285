"""Virtual devices that publish realistic uplinks, for demos, tests and benchmarks.

A fleet (`Fleet(spec=load(path))`, or `Fleet(10)` climate sensors) yields uplinks in time order
from `timeline(start, end)`; `FaultInjector(fleet, rates).apply(...)` adds faults; `paced(...)`
releases them in real or accelerated time; `publish(...)` sends them to a broker.
"""

from simulator.faults import FAULTS, FaultInjector, parse_rates
from simulator.fleet import Fleet, SimulatedUplink, VirtualDevice, decoded, stored
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
    "stored",
]
