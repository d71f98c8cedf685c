"""Carrying out a mapping: ONVIF calls in, the seed's JSON out."""

from __future__ import annotations

from typing import Any

from gateway.mapping.spec import Read
from gateway.soap.device import Credentials, DeviceClient


def _pick(data: Any, path: tuple[str, ...]) -> Any:
    """The value at path in a response, or None where an optional element is absent."""
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


async def run_read(read: Read, device: DeviceClient, credentials: Credentials) -> dict[str, Any]:
    """Make the read's ONVIF call with the user's credentials and pick its JSON fields."""
    reply = await device.call(read.service, read.operation, credentials)
    return {name: _pick(reply, path) for name, path in read.fields.items()}
