"""Virtual devices that publish realistic uplinks, for demos, tests and benchmarks."""

from simulator.fleet import Fleet, SimulatedUplink, VirtualDevice
from simulator.publisher import publish

__all__ = ["Fleet", "SimulatedUplink", "VirtualDevice", "publish"]
