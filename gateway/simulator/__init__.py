"""A stateful, in-memory simulator of ONVIF devices (Device, Media, Media2) on aiohttp."""

from .device import (
    ACCESS_POLICY,
    DEMO_USERS,
    DEVICE,
    MEDIA,
    MEDIA2,
    AccessClass,
    SimulatedDevice,
    User,
    demo_users,
    device_path,
    service_path,
)
from .media import Profile, VideoEncoderConfiguration, VideoSource, VideoSourceConfiguration
from .operation import Operation
from .server import OPERATIONS, SIMULATED_DEVICES, create_simulator_app

__all__ = [
    "ACCESS_POLICY",
    "DEMO_USERS",
    "DEVICE",
    "MEDIA",
    "MEDIA2",
    "OPERATIONS",
    "SIMULATED_DEVICES",
    "AccessClass",
    "Operation",
    "Profile",
    "SimulatedDevice",
    "User",
    "VideoEncoderConfiguration",
    "VideoSource",
    "VideoSourceConfiguration",
    "create_simulator_app",
    "demo_users",
    "device_path",
    "service_path",
]
