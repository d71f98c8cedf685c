"""The route table, with every route under /devices/{device_id}/ found in a step or two.

aiohttp's router files a route under the literal part of its path before the first variable, and
tries the routes filed there one after the other: every /devices/{device_id}/... route is filed
under /devices, so a per-device request was matched against each route before its own (the
device information's was the ninth of thirty). PerDevice is one resource in that place: it files
the per-device routes as aiohttp files the bare ones, under the literal part of what follows
/devices/{device_id}, and tries only those filed under the request's path. The routes themselves
are aiohttp's own (made by an UrlDispatcher of their own: the same resources, methods and HEAD
routes as before), and a request matched keeps its route, its resource and canonical path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import hdrs, web
from yarl import URL

from gateway.web.handlers import DEVICE_PREFIX
from gateway.web.problems import expect

if TYPE_CHECKING:  # the type AbstractResource.get_info() is declared with
    from aiohttp.web_urldispatcher import _InfoDict

PER_DEVICE = f"{DEVICE_PREFIX}/"  # the routes' paths: /devices/{device_id}/...
DEVICES = DEVICE_PREFIX.partition("{")[0]  # the requests' paths: /devices/NAME/...


def _filed_under(path: str) -> str:
    """Where aiohttp's UrlDispatcher files a route's path: its literal part before the first
    variable, up to the last slash (UrlDispatcher._get_resource_index_key)."""
    if "{" in path:
        path = path.partition("{")[0].rpartition("/")[0]
    return path.rstrip("/") or "/"


class PerDevice(web.AbstractResource):
    """The routes under /devices/{device_id}/, filed by what follows the device's name."""

    def __init__(self, routes: list[web.RouteDef]) -> None:
        super().__init__()
        self._router = web.UrlDispatcher()
        for route in routes:
            route.register(self._router)
        self._filed: dict[str, list[web.AbstractResource]] = {}
        # the routes of the first resource of each path whose only variable is the device's
        # name, by that path's suffix and the routes' methods
        self._named: dict[str, dict[str, web.AbstractRoute]] = {}
        for resource in self._router.resources():
            suffix = resource.canonical.removeprefix(DEVICE_PREFIX)
            self._filed.setdefault(_filed_under(suffix), []).append(resource)
            if "{" not in suffix:
                self._named.setdefault(suffix, {route.method: route for route in resource})

    @property
    def canonical(self) -> str:
        # aiohttp files this resource under /devices, where the per-device routes were
        return PER_DEVICE + "..."

    async def resolve(self, request: web.Request
                      ) -> tuple[web.UrlMappingMatchInfo | None, set[str]]:
        """The route of a request under /devices/{device_id}/, as UrlDispatcher.resolve would
        find it (the longest literal part first, then in the order the routes were added)."""
        path = request.rel_url.path_safe
        allowed: set[str] = set()
        if not path.startswith(DEVICES):
            return None, allowed
        name, slash, rest = path[len(DEVICES):].partition("/")  # after the device's name
        if not slash:
            return None, allowed
        part = "/" + rest
        # A path whose only variable is the device's name, and a name that aiohttp's pattern
        # takes ([^{}/]+) as it is (no %2F or %25 left to decode): that resource's route, as its
        # resolve() would find it, without its regular expression (a fiftieth of a cached read)
        if (routes := self._named.get(part)) is not None and name and "%" not in name \
                and "{" not in name and "}" not in name:
            route = routes.get(request.method) or routes.get(hdrs.METH_ANY)
            if route is not None:
                return web.UrlMappingMatchInfo({"device_id": name}, route), allowed
        while True:
            for resource in self._filed.get(part, ()):
                match, methods = await resource.resolve(request)  # the whole path, as before
                if match is not None:
                    return match, methods
                allowed |= methods
            if part == "/":
                return None, allowed
            part = part.rpartition("/")[0] or "/"

    def __len__(self) -> int:
        return sum(len(resource) for resource in self._router.resources())

    def __iter__(self) -> Iterator[web.AbstractRoute]:
        """The routes themselves (app.router.routes() lists them: the OpenAPI document)."""
        for resource in self._router.resources():
            yield from resource

    def freeze(self) -> None:
        self._router.freeze()

    def url_for(self, **kwargs: str) -> URL:
        raise NotImplementedError("a URL is made by the route's own resource")

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError("the per-device routes are not served in a sub-application")

    def get_info(self) -> _InfoDict:
        return {"formatter": self.canonical}

    def raw_match(self, path: str) -> bool:
        return False


def add_routes(app: web.Application, routes: list[web.RouteDef]) -> None:
    """Add a route table to the app: those under /devices/{device_id}/ in one PerDevice (first
    of those filed under /devices: /devices and /devices/{device_id} cannot take its paths)."""
    routes = [web.RouteDef(route.method, route.path, route.handler,
                           {"expect_handler": expect, **route.kwargs}) for route in routes]
    per_device = [route for route in routes if route.path.startswith(PER_DEVICE)]
    if per_device:
        app.router.register_resource(PerDevice(per_device))
    app.add_routes([route for route in routes if not route.path.startswith(PER_DEVICE)])
