"""The route table: the routes under /devices/{device_id}/ are found as aiohttp's own router
finds them (the same route, the same path parameters, the same 404 and 405), in a step or two."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.app import create_app, route_table
from gateway.config import DeviceConfig, GatewayConfig
from gateway.keys import RESOURCES
from gateway.web.routing import PerDevice

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH")
VALUES = {"device_id": "cam", "token": "profile_1", "name": "video1", "webhook_id": "w1",
          "asset": "a.js"}


@pytest.fixture
async def app(tmp_path):
    device = DeviceConfig("cam", "http://127.0.0.1:9/onvif/device_service", default=True)
    return await create_app(GatewayConfig(devices=(device,), state_dir=tmp_path))


def request_paths(app):
    """Every route's path with values in it, and paths near them that no route takes."""
    paths = {"/devices", "/devices/", "/devices/cam", "/devices/cam/", "/devices//login",
             "/devices/cam/nothing", "/devices/cam/login/", "/devices/cam/login/more",
             "/devices/c%7Bam/login", "/devices/c%7Dam/login", "/devices/c%2Fam/login",
             "/devices/c%20am/login", "/devices/c%25am/device-information",
             "/devices/cam/profiles/", "/devices/cam/profiles/p%2F1/ptz", "/devicesx/cam/login"}
    for route in app.router.routes():
        path = re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], route.resource.canonical)
        paths |= {path, path + "/", path + "/x", path.replace("/cam/", "/other-cam/")}
    return sorted(paths)


def outcome(match):
    """What a router found: the route (method, path, handler) and the path's values, or the
    refusal with the methods it allows."""
    error = match.http_exception
    if error is not None:
        return error.status, sorted(getattr(error, "allowed_methods", ()))
    route = match.route
    return (route.method, route.resource.canonical, route.handler.__qualname__,
            dict(match))


async def test_each_request_finds_the_route_aiohttps_router_finds(app):
    own = web.UrlDispatcher()  # aiohttp's router, every route filed its own way
    for route in route_table(app[RESOURCES]):
        route.register(own)
    per_device = [r for r in app.router.resources() if isinstance(r, PerDevice)]
    assert len(per_device) == 1
    compared = 0
    for path in request_paths(app):
        for method in METHODS:
            request = make_mocked_request(method, path, app=app)
            assert outcome(await app.router.resolve(request)) == \
                outcome(await own.resolve(request)), (method, path)
            compared += 1
    assert compared > 500


async def test_the_routes_under_a_device_are_listed_with_their_own_paths(app):
    """app.router.routes() (the OpenAPI document is made from it) lists each per-device route
    with its own resource and canonical path, as before."""
    own = web.UrlDispatcher()
    for route in route_table(app[RESOURCES]):
        route.register(own)

    def listed(router):
        return sorted((route.method, route.resource.canonical) for route in router.routes())

    assert listed(app.router) == listed(own)
    assert ("GET", "/devices/{device_id}/device-information") in listed(app.router)
