"""GET /profiles/{token}/snapshot and GET /snapshot: a profile's picture as image/jpeg.

The device's snapshot URI comes from the snapshot-uri mapping file (GetSnapshotUri, Media2 or
Media1); the fetch, its limits and the short keeping of pictures are gateway/snapshots.py's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import DeviceBadReply, NotFound, quoted
from gateway.keys import SNAPSHOTS, STORE
from gateway.mapping.engine import Context, read_resource
from gateway.mapping.spec import Resource, parameter_values
from gateway.web.handlers import DEVICE_PREFIX, query_of, reader_context

SNAPSHOT_URI = "/profiles/{token}/snapshot-uri"
PROFILES = "/profiles"
SNAPSHOT = "/profiles/{token}/snapshot"
FIRST_SNAPSHOT = "/snapshot"


def _jpeg(request: web.Request, picture: bytes) -> web.Response:
    ttl = int(request.app[SNAPSHOTS].ttl)
    return web.Response(body=picture, content_type="image/jpeg",
                        headers={"Cache-Control": f"private, max-age={ttl}"})


async def _key(request: web.Request, ctx: Context, token: str | None) -> Hashable:
    """A picture is kept per device and profile, and only until the device's next change through
    the gateway (a policy change may keep the profile from use)."""
    return ctx.device.name, token, await request.app[STORE].version(ctx.device.name)


def _fetcher(request: web.Request, ctx: Context, snapshot_uri: Resource,
             token: Callable[[], Awaitable[str]]) -> Callable[[], Awaitable[bytes]]:
    """Ask the device where the profile's picture is (as the user), then fetch it."""

    async def fetch() -> bytes:
        profile = await token()
        ctx.params = parameter_values(snapshot_uri, {"token": profile}, [])
        uri = (await read_resource(snapshot_uri, ctx)).get("uri")
        if not uri:
            raise DeviceBadReply(f"device {ctx.device.name} gave no snapshot URI for profile "
                                 f"{quoted(profile)}", ctx.device.name)
        return await request.app[SNAPSHOTS].fetch(ctx.device, str(uri), ctx.credentials,
                                                   ctx.credential_keys.get(str(uri), ()))

    return fetch


def routes(resources: list[Resource]) -> list[web.RouteDef]:
    """The two snapshot routes, bare and under /devices/{device_id}; none when the mappings
    folder has no snapshot-uri and profiles files to build on."""
    by_path = {resource.path: resource for resource in resources}
    snapshot_uri, profiles = by_path.get(SNAPSHOT_URI), by_path.get(PROFILES)
    if snapshot_uri is None or profiles is None:
        return []

    async def snapshot(request: web.Request) -> web.Response:
        """A profile's picture."""
        ctx = await reader_context(request)
        query_of(request)
        token = request.match_info["token"]

        async def given() -> str:
            return token

        picture = await request.app[SNAPSHOTS].get(
            await _key(request, ctx, token), _fetcher(request, ctx, snapshot_uri, given))
        return _jpeg(request, picture)

    async def first_snapshot(request: web.Request) -> web.Response:
        """The picture of the device's first profile."""
        ctx = await reader_context(request)
        query_of(request)

        async def first() -> str:
            found = (await read_resource(profiles, ctx))[str(profiles.reads[0].list)]
            if not found:
                raise NotFound(f"device {ctx.device.name} has no media profile",
                               device=ctx.device.name)
            return str(found[0]["token"])

        picture = await request.app[SNAPSHOTS].get(
            await _key(request, ctx, None), _fetcher(request, ctx, snapshot_uri, first))
        return _jpeg(request, picture)

    table: list[tuple[str, Handler]] = [(SNAPSHOT, snapshot), (FIRST_SNAPSHOT, first_snapshot)]
    return [web.route("GET", prefix + path, handler)
            for prefix in ("", DEVICE_PREFIX) for path, handler in table]
