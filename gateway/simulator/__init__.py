"""A stateful, in-memory simulator of ONVIF devices (Device service) on aiohttp."""

from .device import (
    ACCESS_POLICY,
    DEMO_USERS,
    AccessClass,
    SimulatedDevice,
    User,
    demo_users,
    device_path,
)
from .server import OPERATIONS, SIMULATED_DEVICES, Operation, create_simulator_app

__all__ = [
    "ACCESS_POLICY",
    "DEMO_USERS",
    "OPERATIONS",
    "SIMULATED_DEVICES",
    "AccessClass",
    "Operation",
    "SimulatedDevice",
    "User",
    "create_simulator_app",
    "demo_users",
    "device_path",
]
