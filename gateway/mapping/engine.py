"""Carrying out a mapping's read: ONVIF calls in, the seed's JSON out."""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.credentials import Credentials
from gateway.errors import (
    BadRequest,
    Conflict,
    DeviceBadReply,
    DeviceFault,
    NotFound,
    echo_shortened,
    quoted,
)
from gateway.leases import Leases
from gateway.mapping.arguments import Source, Untranslatable, build
from gateway.mapping.profiles import Profiles
from gateway.mapping.spec import Call, Field, Read, Resource
from gateway.mapping.uris import (
    credential_places,
    expiry,
    with_credentials,
    with_host,
    without_credentials,
)
from gateway.mapping.values import xml_text
from gateway.soap.device import DeviceClient
from gateway.state.store import PolicyStore

POLICY_DEFAULT = 1  # what a device's source or codec is until a PUT says otherwise
# A reply's entries are turned into JSON this many at a time (a few milliseconds' work), then
# the event loop serves others.
YIELD_EVERY = 200

# The status of a DeviceFault saying the device lacks the operation.
NOT_IMPLEMENTED = 501
# A URI C firmware answers where it has none: a NULL string printed (a gm8135_v2 camera's
# GetSnapshotUri: home-assistant/core#84551); the device lacks what was asked for, as one that
# answers without a URI (TP-Link TL-IPC55A cameras: home-assistant/core#101597).
NULL_URI = "(null)"


@dataclass
class Context:
    """Who asks, of which device, and the gateway state around it; caches lookups of one request."""

    device: DeviceClient
    credentials: Credentials
    store: PolicyStore
    params: dict[str, Any] = field(default_factory=dict)  # the request's path and query ones
    leases: Leases | None = None  # where actions that go on until stopped are held
    owner: bytes = b""  # the session a lease is held for (a hash of its token)
    settle: float = 0.0  # seconds a read back waits at most for an action to end (wait_while)
    clock: Callable[[], float] = time.monotonic  # what measures settle (the gateway's clock)
    state: dict[str, Any] | None = None  # the GET before an action: what `within` clamps to
    clamped: dict[str, Any] = field(default_factory=dict)  # body field = the value sent instead
    replies: dict[str, Any] = field(default_factory=dict)  # of the named calls made so far
    # A URI given without the credential query parameters its device had put in: their names
    # (where the device takes credentials: the gateway's own snapshot fetch puts the user's there)
    credential_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _policies: dict[str, dict[str, int]] = field(default_factory=dict)
    _held: dict[str, set[str]] = field(default_factory=dict)

    async def policy(self, table: str) -> dict[str, int]:
        if table not in self._policies:
            self._policies[table] = await self.store.enabled(self.device.name, table)
        return self._policies[table]

    async def held(self, kind: str) -> set[str]:
        """Tokens of the configurations of a kind that some profile holds."""
        if kind not in self._held:
            profiles = await (await Profiles.of(self.device, self.credentials)).list([kind])
            self._held[kind] = {p.holds[kind] for p in profiles if kind in p.holds}
        return self._held[kind]

    def forget(self) -> None:
        """Drop what this request has looked up (after a write, before reading back)."""
        self._policies.clear()
        self._held.clear()


def pick(data: Any, path: tuple[str, ...]) -> Any:
    """The value at path in a response, or None where an optional element is absent; through a
    repeated element, its first (a node's first AbsolutePanTiltPositionSpace)."""
    for part in path:
        if isinstance(data, list):
            data = data[0] if data else None
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


@dataclass(frozen=True)
class _Shape:
    """What a read needs and its JSON objects are made of, worked out once per read (not per
    request)."""

    order: tuple[tuple[str, Field, bool], ...]  # name, spec, _looked_up; policies last
    device_only: frozenset[str]
    flat: bool  # no dotted name: nothing to nest
    needs: tuple[str, ...]  # the services the read calls (its calls' too)


# Per Read object, while it lives (a Read holds dicts: it cannot be a key itself).
_shapes: dict[int, tuple[weakref.ref[Read], _Shape]] = {}


def _shape(read: Read) -> _Shape:
    known = _shapes.get(id(read))
    if known is not None and known[0]() is read:
        return known[1]
    # policy fields are keyed by `name`, so the device's own fields go first
    order = sorted(read.fields.items(), key=lambda f: f[1].policy is not None)
    shape = _Shape(
        tuple((name, spec, _looked_up(spec)) for name, spec in order),
        frozenset(name for name, spec in read.fields.items() if spec.path or spec.present),
        not any("." in name for name in read.fields),
        tuple(sorted({read.service, *(step.service for step in read.calls)})))
    key = id(read)
    _shapes[key] = (weakref.ref(read, lambda _: _shapes.pop(key, None)), shape)
    return shape


def _needs(read: Read) -> tuple[str, ...]:
    """The services a read calls (its calls' too)."""
    return _shape(read).needs


async def _offers_all(read: Read, device: DeviceClient) -> bool:
    """Whether the device offers the services of a read (its calls' too)."""
    return all([await device.offers(service) for service in _needs(read)])


async def choose_read(resource: Resource, device: DeviceClient) -> Read:
    """The first of a resource's reads whose services (its calls' too) the device offers."""
    for read in resource.reads:
        if await _offers_all(read, device):
            return read
    options = sorted({" and ".join(_needs(read)) + (" services" if len(_needs(read)) > 1
                                                     else " service") for read in resource.reads})
    raise DeviceFault(f"{resource.path} needs the {', or the '.join(options)}, which the "
                      "device lacks", device.name, "Receiver", ["ActionNotSupported"])


def _looked_up(spec: Field) -> bool:
    """Whether a field's value needs gateway state looked up (a policy, what profiles hold)."""
    return spec.item is None and (spec.policy is not None or spec.derive == "in_use")


async def _looked_up_value(spec: Field, item: Any, json: dict[str, Any], ctx: Context) -> Any:
    if spec.policy is not None:
        return (await ctx.policy(spec.policy)).get(json["name"], POLICY_DEFAULT)
    held = await ctx.held(str(spec.of))
    in_use = (item.get("UseCount") or 0) > 0 or item.get("token") in held
    return int(in_use)


def _value(name: str, spec: Field, item: Any, ctx: Context, outer: dict[str, Any]) -> Any:
    """A field's value from the answer, the request or the mapping (not _looked_up's)."""
    if spec.item is not None:
        return pick(outer, tuple(spec.item.split(".")))
    if spec.param is not None:
        return ctx.params.get(spec.param)
    if spec.exists:  # (zeep gives [] for an absent repeated element)
        answer = ctx.replies[spec.source] if spec.source else item
        if answer is None:
            return None  # no reply (the device lacks the call): not known
        return any(pick(answer, path) not in (None, []) for path in spec.exists)
    if spec.path or spec.present:
        answer = ctx.replies[spec.source] if spec.source else item
        value = item if spec.present else pick(answer, spec.path)
        for path in () if value is not None else spec.alternatives:
            if (value := pick(answer, path)) is not None:
                break
        if (value is not None and spec.expires) or spec.host or spec.userinfo:
            return _uri_or_time(spec, value, ctx)
        if spec.enum is None or value is None:
            return value
        try:
            if isinstance(value, list):  # the modes an options call offers, say
                return [spec.enum.to_json(one) for one in value]
            return spec.enum.to_json(value)
        except KeyError:
            raise DeviceBadReply(
                f"the device answered {value!r} for {name}, which is none of the values "
                f"{spec.enum.name} allows", ctx.device.name,
            ) from None
    if spec.missing is not None and ctx.replies.get(spec.missing) is not None:
        return None  # said only when that call had no reply
    return spec.value


def _uri_or_time(spec: Field, value: Any, ctx: Context) -> Any:
    """An element's value through its options: a URI's host and userinfo, a duration's end."""
    if spec.expires:
        return expiry(value, datetime.now(UTC))
    uri = "" if value is None else str(value)
    if uri.strip() in ("", NULL_URI):  # an answer without one, or C's NULL printed
        told = f"answered {NULL_URI!r}" if uri.strip() else "answered none"
        raise DeviceFault(f"device {ctx.device.name} has no such URI for this profile (it "
                          f"{told})", ctx.device.name, "Receiver", ["ActionNotSupported"])
    try:
        if spec.host == "stream_host" and ctx.device.config.stream_host:
            uri = with_host(uri, ctx.device.config.stream_host)
        if spec.userinfo is not None:
            # credentials the device put in (perhaps another account's) never pass; the
            # session user's own only when asked for, where the device put its own too
            places, uri = credential_places(uri), without_credentials(uri)
            if places.query:
                ctx.credential_keys[uri] = places.query
            if ctx.params.get(spec.userinfo):
                uri = with_credentials(uri, places, ctx.credentials.username,
                                       ctx.credentials.password)
    except ValueError as exc:  # a bracket that does not close, a port out of range...
        # what is wrong with it, not the URI itself: it may carry credentials
        raise DeviceBadReply(f"the device answered a URI that is not one ({exc})",
                             ctx.device.name) from None
    return uri


def _nest(flat: dict[str, Any], device_only: Set[str]) -> dict[str, Any]:
    """{"status.code": 200} -> {"status": {"code": 200}}; an object whose fields all come from
    the device (device_only) and are all absent is null (a profile without audio)."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, last = dotted.split(".")
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    groups = {dotted.rsplit(".", 1)[0] for dotted in flat if "." in dotted}
    # the deepest first, so that an object holding only null objects is null too
    for group in sorted(groups, key=lambda g: -g.count(".")):
        members = [name for name in flat if name.startswith(group + ".")]
        if all(name in device_only and flat[name] is None for name in members):
            *parents, last = group.split(".")
            target = nested
            for parent in parents:
                target = target[parent]
            target[last] = None
    return nested


async def _json(read: Read, item: Any, ctx: Context,
                outer: dict[str, Any] | None = None) -> dict[str, Any]:
    """One JSON object of a read's answer (of one fan-out call: outer is its item)."""
    shape = _shape(read)
    flat: dict[str, Any] = {}
    for name, spec, looked_up in shape.order:
        flat[name] = (await _looked_up_value(spec, item, flat, ctx) if looked_up
                      else _value(name, spec, item, ctx, outer or {}))
    ordered = {name: flat[name] for name in read.fields}
    return ordered if shape.flat else _nest(ordered, shape.device_only)


def _items(read: Read, reply: dict[str, Any]) -> list[Any]:
    found = pick(reply, read.items)
    if read.present:
        return [name for name in read.present if isinstance(found, dict) and found.get(name)]
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


async def call(resource: Resource, ctx: Context, service: str, operation: str,
               arguments: dict[str, Any], body: Any = None,
               item: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call an operation with a mapping's arguments, taken from the request's parameters (and
    body, or a fan-out's item); a path parameter the device does not know is a 404 naming it."""

    def resolve(source: Source) -> Any:
        if source.kind == "item":
            return pick(item or {}, tuple(source.name.split(".")))
        if source.kind == "param":
            return ctx.params.get(source.name)
        if source.kind == "sum":
            parts = [resolve(part) for part in source.parts]
            return None if None in parts else _within(source, sum(parts))
        if source.kind == "state":  # a field of the GET read before the action
            return pick(ctx.state, tuple(source.name.split(".")))
        if source.kind == "reply":
            found = pick(ctx.replies.get(source.name), source.path)
            if found is None:
                raise _not_found(resource, ctx, f"its {source.name} has no "
                                 f"{'.'.join(source.path)}")
            return found
        if source.name not in body and isinstance(source.default, Source):
            # what the device holds now, as the JSON value (build() translates it back)
            held = pick(ctx.replies.get(source.default.name), source.default.path)
            return source.enum.to_json(held) if source.enum and held is not None else held
        value = body.get(source.name, source.default)
        if isinstance(value, str) and not xml_text(value):
            raise BadRequest(f"{source.name!r} holds characters no SOAP message can carry",
                             field=f"$.{source.name}")
        return value

    def _within(source: Source, total: Any) -> Any:
        """A sum clamped into the GET's limits (where it has them), the clamp noted."""
        if source.within is None or ctx.state is None:
            return total
        low, high = (pick(ctx.state, tuple(name.split("."))) for name in source.within)
        value = total if low is None else max(total, low)
        value = value if high is None else min(value, high)
        if value != total:
            ctx.clamped[source.name] = value
        return value

    try:
        built = build(arguments, resolve)
    except Untranslatable as exc:
        # a value this operation has no word for (rtsps over Media1, say): it cannot do it
        raise DeviceFault(f"{operation} ({service} service) cannot take {exc.source.name} "
                          f"{quoted(exc.value)}", ctx.device.name, "Receiver",
                          ["ActionNotSupported"]) from None
    try:
        return await ctx.device.call(service, operation, ctx.credentials, **built)
    except DeviceFault as exc:
        codes = {"fault_code": exc.extra.get("fault_code"),
                 "fault_subcodes": exc.extra.get("fault_subcodes")}
        # a fault about what a body field gave (a preset the device does not know, or has
        # already by that name) names that field
        if "PresetExist" in exc.subcodes and (named := _given(arguments, "Name")) is not None:
            exc.extra["field"] = f"$.{named[1]}"
        if "NoToken" in exc.subcodes and (named := _given(arguments, "Token")) is not None:
            element, name = named
            why = echo_shortened(exc.detail, built[element])
            raise NotFound(f"the device knows no {name} {quoted(built[element])}: {why}",
                           field=f"$.{name}", device=ctx.device.name, **codes) from exc
        if exc.status != 404 or not _in_path(resource) or "NoToken" in exc.subcodes:
            raise
        raise _not_found(resource, ctx, exc.detail, **codes) from exc


def _given(arguments: dict[str, Any], kind: str) -> tuple[str, str] | None:
    """The argument a body field gives whose element ends with `kind` (PresetToken = { field =
    "preset" } for "Token"), as (element, field): what a NoToken or PresetExist fault is about."""
    for element, source in arguments.items():
        if element.endswith(kind) and isinstance(source, Source) and source.kind == "field":
            return element, source.name
    return None


async def make_calls(resource: Resource, ctx: Context, calls: tuple[Call, ...],
                     body: Any = None) -> None:
    """Make named calls in order, keeping their replies (None: no reply, its fields null)."""
    for step in calls:
        ctx.replies[step.name] = await _named(resource, ctx, step, body)


async def _named(resource: Resource, ctx: Context, step: Call,
                 body: Any) -> dict[str, Any] | None:
    """A named call's reply: its `else`'s where the device lacks it (501), none where it lacks an
    optional one; with `match`, only the matching entries (none match: no reply)."""
    try:
        reply = await call(resource, ctx, step.service, step.operation, step.arguments, body)
    except DeviceFault as exc:
        if exc.status != NOT_IMPLEMENTED:
            raise
        if step.otherwise is not None:
            return await _named(resource, ctx, step.otherwise, body)
        if not step.optional:
            raise
        return None
    if step.match is None:
        return reply
    match = step.match
    wanted = (ctx.params.get(match.value.name) if match.value.kind == "param"
              else pick(ctx.replies.get(match.value.name), match.value.path))
    found = pick(reply, match.entries)
    kept = [entry for entry in (found if isinstance(found, list) else [found])
            if isinstance(entry, dict) and entry.get(match.key) == wanted]
    if not kept:
        return None
    narrowed: dict[str, Any] = dict(reply)  # the same reply, its entries narrowed
    target = narrowed
    for part in match.entries[:-1]:
        target[part] = target = dict(target[part])
    target[match.entries[-1]] = kept
    return narrowed


def _in_path(resource: Resource) -> list[Any]:
    return [p for p in resource.parameters.values() if p.where == "path"]


def _not_found(resource: Resource, ctx: Context, why: str, **extra: Any) -> NotFound:
    """A 404 naming the path parameters: the device has no such thing (or not with this)."""
    in_path = _in_path(resource)
    if not in_path:
        return NotFound(f"the device has nothing for this: {why}", device=ctx.device.name)
    given = ", ".join(f"{p.name} {quoted(ctx.params[p.name])}" for p in in_path)
    why = echo_shortened(why, *(ctx.params[p.name] for p in in_path))
    return NotFound(f"the device knows no {given}: {why}", field=in_path[0].field,
                    device=ctx.device.name, **extra)


async def _fan_out(resource: Resource, read: Read, over: Resource,
                   ctx: Context) -> dict[str, Any]:
    """One call per item of the other resource's answer (at once), one entry per call."""
    entries = (await read_resource(over, ctx))[str(over.reads[0].list)]
    replies = await asyncio.gather(*(
        call(resource, ctx, read.service, read.operation, read.arguments, item=entry)
        for entry in entries))
    return {str(read.list): [await _json(read, reply, ctx, entry)
                             for entry, reply in zip(entries, replies, strict=True)]}


async def _read(resource: Resource, read: Read, ctx: Context) -> dict[str, Any]:
    if read.over is not None:
        return await _fan_out(resource, read, read.over, ctx)
    await make_calls(resource, ctx, read.calls)
    if read.optional:  # (of one object)
        ctx.replies[read.operation] = optional = await _named(resource, ctx, Call(
            read.operation, read.service, read.operation, read.arguments, optional=True), None)
        return await _json(read, optional, ctx)
    reply = await call(resource, ctx, read.service, read.operation, read.arguments)
    if read.list is None:
        return await _json(read, reply, ctx)
    device_fields = [name for name, spec in read.fields.items() if spec.path or spec.present]
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for count, item in enumerate(_items(read, reply), 1):
        if count % YIELD_EVERY == 0:  # thousands of entries: let other requests run meanwhile
            await asyncio.sleep(0)
        entry = await _json(read, item, ctx)
        if all(entry.get(name) is None for name in device_fields):
            continue  # an empty element (an empty option set, a profile without an encoder)
        # devices list a codec once per option set; the API lists it once (a set: a device may
        # send thousands of entries, and comparing each with all before is quadratic)
        key = json.dumps(entry, sort_keys=True)
        if key not in seen:
            seen.add(key)
            items.append(entry)
    return {read.list: items}


async def check_guard(resource: Resource, ctx: Context) -> None:
    """A profile the gateway policy keeps from use (its source or codec disabled) is 409: no
    stream or snapshot is handed out for it. A profile the device lacks is left to the read."""
    guard = resource.guard
    if guard is None:
        return
    token = ctx.params[guard.param]
    profiles = await (await Profiles.of(ctx.device, ctx.credentials)).list(
        ["VideoSource", "VideoEncoder"])
    profile = next((p for p in profiles if p.token == token), None)
    if profile is None:
        return
    where = f"path.{guard.param}"
    if profile.source is not None and \
            not (await ctx.policy(guard.sources)).get(profile.source, POLICY_DEFAULT):
        raise Conflict(f"profile {token!r} shows video source {profile.source!r}, which the "
                       f"gateway policy disables ({guard.sources})", field=where)
    if profile.encoding is not None:
        try:
            codec = guard.enum.to_json(profile.encoding)
        except KeyError:
            return  # a codec the policy has no name for is not one it disables
        if not (await ctx.policy(guard.encoders)).get(codec, POLICY_DEFAULT):
            raise Conflict(f"profile {token!r} encodes {codec!r}, which the gateway policy "
                           f"disables ({guard.encoders})", field=where)


async def read_resource(resource: Resource, ctx: Context) -> dict[str, Any]:
    """Make a resource's read call with the user's credentials and build its JSON."""
    await check_guard(resource, ctx)
    read = await choose_read(resource, ctx.device)
    try:
        body = await _read(resource, read, ctx)
    except DeviceFault:
        if await _offers_all(read, ctx.device):
            raise
        # A service turned out not to be served (listed, but its address answers 404): the
        # next read whose services the device offers.
        read = await choose_read(resource, ctx.device)
        body = await _read(resource, read, ctx)
    if read.list is None or body[read.list]:
        return body
    # Devices whose answer says nothing (an empty Options element while they do have H264
    # encoders): the fallbacks, in order, where the device offers their service.
    for fallback in resource.fallbacks:
        if not await ctx.device.offers(fallback.service):
            continue
        try:
            found = await _read(resource, fallback, ctx)
        except DeviceFault:
            continue  # a fallback the device lacks leaves the answer as it was
        if found[read.list]:
            return found
    return body
