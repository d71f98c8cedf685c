"""The typed keys of the gateway's application state, all in one place."""

from __future__ import annotations

from aiohttp import web

from gateway.access import LoginLimiter
from gateway.config import GatewayConfig
from gateway.devices import DeviceRegistry
from gateway.mapping.spec import Resource
from gateway.sessions import Sessions
from gateway.soap.wsdl import Wsdls
from gateway.store import PolicyStore

CONFIG = web.AppKey("config", GatewayConfig)
WSDLS = web.AppKey("wsdls", Wsdls)
RESOURCES = web.AppKey("resources", list[Resource])
DEVICES = web.AppKey("devices", DeviceRegistry)
SESSIONS = web.AppKey("sessions", Sessions)
STORE = web.AppKey("store", PolicyStore)
LOGINS = web.AppKey("logins", LoginLimiter)
