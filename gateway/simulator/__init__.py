"""A stateful, in-memory simulator of ONVIF devices (Device, Media, Media2) on aiohttp."""

from .device import (
    ACCESS_POLICY,
    DEMO_USERS,
    DEVICE,
    MEDIA,
    MEDIA2,
    STANDARD_PATHS,
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
from .soap import RECEIVER, SENDER, SoapFault

__all__ = [
    "ACCESS_POLICY",
    "DEMO_USERS",
    "DEVICE",
    "MEDIA",
    "MEDIA2",
    "OPERATIONS",
    "RECEIVER",
    "SENDER",
    "SIMULATED_DEVICES",
    "STANDARD_PATHS",
    "AccessClass",
    "Operation",
    "Profile",
    "SimulatedDevice",
    "SoapFault",
    "User",
    "VideoEncoderConfiguration",
    "VideoSource",
    "VideoSourceConfiguration",
    "create_simulator_app",
    "demo_users",
    "device_path",
    "service_path",
]
