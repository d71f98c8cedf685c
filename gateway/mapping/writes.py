"""The named writes a mapping's [put] can use. Each checks the whole body before changing
anything, makes its change, reads the state back, and answers with it (what GET now returns).
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from gateway.errors import (
    Conflict,
    DeviceDidNotApply,
    DeviceError,
    DeviceFault,
    NotFound,
)
from gateway.mapping.engine import POLICY_DEFAULT, Context, call, choose_read, read_resource
from gateway.mapping.profiles import Profiles
from gateway.mapping.spec import (
    CallWrite,
    ConfigurationWrite,
    Field,
    PolicyWrite,
    Read,
    Resource,
)

CODEC_SETTINGS = ("Profile", "H264", "MPEG4")


async def put_resource(resource: Resource, ctx: Context, data: Any) -> dict[str, Any]:
    """Carry out a resource's [put] with a request body, checked first against the body its
    mapping file declares; returns the state read back."""
    if resource.put is None:
        raise AssertionError(f"{resource.path} has no [put]")
    body = resource.put.body.check(data)
    match resource.put:
        case PolicyWrite():
            await _put_policy(resource, ctx, body)
        case CallWrite() as write:
            await _put_call(resource, write, ctx, body)
        case ConfigurationWrite() as write:
            await _put_configuration(resource, write, ctx, body)
    ctx.forget()
    return await read_resource(resource, ctx)


async def _put_policy(resource: Resource, ctx: Context, body: dict[str, Any]) -> None:
    """Store enabled flags: {"<list>": [{"name": ..., "<flag>": 0|1}, ...]}, all or none; the
    entries apply in order."""
    read = await choose_read(resource, ctx.device)
    list_key, (flag, flag_spec) = read.list or "", next(
        (name, f) for name, f in read.fields.items() if f.policy)
    names_enum = read.fields["name"].enum
    offered = {entry["name"] for entry in (await read_resource(resource, ctx))[list_key]}
    values: dict[str, int] = {}
    for i, entry in enumerate(body[list_key]):
        where = f"$.{list_key}[{i}]"
        name, enabled = entry["name"], entry[flag]
        # A name listed again takes its later value, as a key repeated in a JSON object would
        # (JSON Schema, and so the OpenAPI description, cannot forbid repeats by name).
        if name not in offered:
            if names_enum is None:
                raise NotFound(f"the device has no {name!r}", field=f"{where}.name",
                               device=ctx.device.name)
            if enabled:
                raise Conflict(f"the device does not offer {name!r}, so it cannot be enabled",
                               field=f"{where}.{flag}", device=ctx.device.name)
        values[name] = enabled
    await ctx.store.set_enabled(ctx.device.name, str(flag_spec.policy), values)


async def _put_call(resource: Resource, write: CallWrite, ctx: Context,
                    body: dict[str, Any]) -> None:
    """Call the write's operation with arguments from the body, then check the device took it."""
    await call(resource, ctx, write.service, write.operation, write.arguments, body)
    ctx.forget()
    now = await read_resource(resource, ctx)
    for name in write.body.fields:
        if name in body and now.get(name) != body[name]:
            raise DeviceDidNotApply(
                f"the device accepted {write.operation} but still reports {name} = "
                f"{now.get(name)!r}, not {body[name]!r}", ctx.device.name,
            )


async def _put_configuration(
    resource: Resource, write: ConfigurationWrite, ctx: Context, body: dict[str, Any]
) -> None:
    """{"c_name", "<s_name|e_name>", "action": "create" | "delete"}: put a configuration of the
    device into use in a profile the gateway owns, or take it out of the gateway's profiles."""
    other = write.policy.field

    read = await choose_read(resource, ctx.device)
    reply = await ctx.device.call(read.service, read.operation, ctx.credentials, **read.arguments)
    configurations = reply.get(read.items[0]) or []
    chosen = next((c for c in configurations if c.get("Name") == body["c_name"]), None)
    if chosen is None:
        raise NotFound(f"the device has no configuration named {body['c_name']!r}",
                       field="$.c_name", device=ctx.device.name)
    if write.of == "VideoSource" and chosen.get("SourceToken") != body[other]:
        # A source configuration belongs to one video source; the device knows only those
        # sources its configurations name.
        if body[other] not in {c.get("SourceToken") for c in configurations}:
            raise NotFound(f"the device has no video source {body[other]!r}",
                           field=f"$.{other}", device=ctx.device.name)
        raise Conflict(f"configuration {body['c_name']!r} is on video source "
                       f"{chosen.get('SourceToken')!r}, not {body[other]!r}",
                       field=f"$.{other}", device=ctx.device.name)
    profiles = await Profiles.of(ctx.device, ctx.credentials)
    if body["action"] == "create":
        await _create(write, ctx, profiles, chosen, body, read)
    else:
        await _delete(write.of, ctx, profiles, chosen["token"], body["c_name"])


async def _create(write: ConfigurationWrite, ctx: Context, profiles: Profiles,
                  chosen: dict[str, Any], body: dict[str, Any], read: Read) -> None:
    kind, token, other = write.of, chosen["token"], write.policy.field
    policy = write.policy
    key = policy.enum.to_json(body[other]) if policy.enum else body[other]
    if (await ctx.policy(policy.table)).get(key, POLICY_DEFAULT) == 0:
        raise Conflict(f"{body[other]!r} is disabled by the gateway policy ({policy.table})",
                       field=f"$.{other}", device=ctx.device.name)
    owned = await ctx.store.owned_profiles(ctx.device.name)
    current = await profiles.list()
    if any(p.token in owned and p.holds.get(kind) == token for p in current):
        return  # already in use through a gateway profile: nothing to do
    if kind == "VideoSource":
        new, holds = await _create_recorded(ctx, profiles, f"gateway {body['c_name']}", kind,
                                            token)
        if not holds:
            try:
                await profiles.add(new, kind, token)
            except DeviceFault as exc:
                # A device that only pretended to create the profile: _verify says so.
                if "NoProfile" not in exc.subcodes:
                    raise
        try:
            await _verify(ctx, profiles, new, kind, token, "CreateProfile")
        except DeviceDidNotApply:
            await _discard(ctx, profiles, new)
            raise
        return
    await _set_encoding(ctx, read, chosen, body[other], read.fields[other])
    host = next((p for p in current if p.token in owned and "VideoSource" in p.holds
                 and kind not in p.holds), None)
    if host is None:
        raise Conflict("no gateway profile has a free encoder slot: put a video source "
                       "configuration into use first (PUT /configurations/sources/video)",
                       field="$.c_name", device=ctx.device.name)
    await profiles.add(host.token, kind, token)
    await _verify(ctx, profiles, host.token, kind, token, "AddVideoEncoderConfiguration")


async def _create_recorded(ctx: Context, profiles: Profiles, name: str, kind: str,
                           configuration: str) -> tuple[str, bool]:
    """Create a gateway profile, recorded as the gateway's own so that it may delete it later.

    Where the client may choose the token (Media1), it is recorded before the profile exists, so
    that no crash can leave a profile the gateway made unrecorded; Media2 devices choose the
    token, which is recorded as soon as they answer.
    """
    device = ctx.device.name
    planned = None if profiles.service == "media2" else f"gw_{secrets.token_hex(8)}"
    if planned is not None:
        await ctx.store.add_profile(device, planned)
    try:
        new, holds = await profiles.create(name, kind, configuration, planned)
    except DeviceError:
        if planned is not None:
            await ctx.store.remove_profile(device, planned)
        raise
    if new != planned:  # Media2, or a device that chose its own token after all
        await ctx.store.add_profile(device, new)
        if planned is not None:
            await ctx.store.remove_profile(device, planned)
    return new, holds


async def _set_encoding(ctx: Context, read: Read, chosen: dict[str, Any], encoding: str,
                        spec: Field) -> None:
    """Change an encoder configuration's encoding when the device's options allow it."""
    element = spec.path[0]
    wire = spec.enum.to_onvif(encoding) if spec.enum else encoding
    if chosen.get(element) == wire:
        return
    options = await ctx.device.call(read.service, "GetVideoEncoderConfigurationOptions",
                                    ctx.credentials, ConfigurationToken=chosen["token"])
    offered = options.get("Options") or {}
    if isinstance(offered, list):  # Media2: one option set per codec
        allowed = {o.get("Encoding") for o in offered}
    else:  # Media1: one element per codec offered
        allowed = {name for name in ("JPEG", "MPEG4", "H264") if offered.get(name)}
    if wire not in allowed:
        raise Conflict(f"configuration {chosen.get('Name')!r} is {chosen.get(element)} and the "
                       f"device cannot change it to {encoding}", field="$.e_name",
                       device=ctx.device.name)
    # Settings of the old codec (Media2's Profile, Media1's H264 or MPEG4 block) would not fit the
    # new one: leave them out and let the device choose its defaults for the new codec.
    changed = {**chosen, element: wire} | {key: None for key in CODEC_SETTINGS if key in chosen}
    # Media1 asks whether the change should survive a reboot (it should); Media2 always persists.
    persist = {"ForcePersistence": True} if read.service == "media" else {}
    await ctx.device.call(read.service, "SetVideoEncoderConfiguration", ctx.credentials,
                          Configuration=changed, **persist)


async def _delete(kind: str, ctx: Context, profiles: Profiles, token: str, c_name: str) -> None:
    owned = await ctx.store.owned_profiles(ctx.device.name)
    holders = [p for p in await profiles.list() if p.holds.get(kind) == token]
    foreign = [p.token + (" (fixed)" if p.fixed else "") for p in holders if p.token not in owned]
    if foreign:
        raise Conflict(f"configuration {c_name!r} is used by profiles the gateway did not create, "
                       f"which it never touches: {', '.join(foreign)}", field="$.c_name",
                       device=ctx.device.name, profiles=foreign)
    for profile in holders:
        if kind == "VideoSource":
            await profiles.delete(profile.token)
        else:
            await profiles.remove(profile.token, kind, token)
    after = {p.token: p for p in await profiles.list()}
    for profile in holders:
        left = after.get(profile.token)
        if kind == "VideoSource" and left is None:
            await ctx.store.remove_profile(ctx.device.name, profile.token)
        elif left is not None and left.holds.get(kind) == token:
            operation = "DeleteProfile" if kind == "VideoSource" else "RemoveConfiguration"
            raise DeviceDidNotApply(f"the device accepted {operation} but profile "
                                    f"{profile.token!r} still holds {c_name!r}", ctx.device.name)


async def _discard(ctx: Context, profiles: Profiles, profile: str) -> None:
    """Delete a profile the gateway just made that did not turn out right (best effort)."""
    with contextlib.suppress(DeviceError):
        await profiles.delete(profile)
    if all(p.token != profile for p in await profiles.list()):
        await ctx.store.remove_profile(ctx.device.name, profile)


async def _verify(ctx: Context, profiles: Profiles, profile: str, kind: str, token: str,
                  operation: str) -> None:
    """Read the profiles back: the profile must exist and hold the configuration."""
    found = next((p for p in await profiles.list() if p.token == profile), None)
    if found is not None and found.holds.get(kind) == token:
        return
    if found is None:
        await ctx.store.remove_profile(ctx.device.name, profile)
        detail = f"the device accepted {operation} but profile {profile!r} does not exist"
    else:
        detail = f"the device accepted {operation} but profile {profile!r} does not hold it"
    raise DeviceDidNotApply(detail, ctx.device.name)
