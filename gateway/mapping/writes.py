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
    quoted,
)
from gateway.mapping.actions import put_action
from gateway.mapping.engine import POLICY_DEFAULT, Context, call, choose_read, read_resource
from gateway.mapping.profiles import Profiles
from gateway.mapping.spec import (
    ActionWrite,
    CallWrite,
    Change,
    ConfigurationWrite,
    PolicyWrite,
    Read,
    Resource,
)


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
        case ActionWrite() as write:
            return await put_action(resource, write, ctx, body)
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
                raise NotFound(f"the device has no {quoted(name)}", field=f"{where}.name",
                               device=ctx.device.name)
            if enabled:
                raise Conflict(f"the device does not offer {quoted(name)}, so it cannot be "
                               "enabled", field=f"{where}.{flag}", device=ctx.device.name)
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
                f"{now.get(name)!r}, not {quoted(body[name])}", ctx.device.name,
            )


async def _put_configuration(
    resource: Resource, write: ConfigurationWrite, ctx: Context, body: dict[str, Any]
) -> None:
    """{"c_name", "action": "create" | "delete", ...}: put a configuration of the device into use
    in a profile the gateway owns, or take it out of the gateway's profiles."""
    read = await choose_read(resource, ctx.device)
    reply = await call(resource, ctx, read.service, read.operation, read.arguments)
    configurations = reply.get(read.items[0]) or []
    chosen = next((c for c in configurations if c.get("Name") == body["c_name"]), None)
    if chosen is None:
        raise NotFound(f"the device has no configuration named {quoted(body['c_name'])}",
                       field="$.c_name", device=ctx.device.name)
    for name, element in write.match.items():
        if chosen.get(element) == body[name]:
            continue
        # A configuration belongs to one of what it names (a source configuration to its video
        # source); the device knows only those its configurations name.
        if body[name] not in {c.get(element) for c in configurations}:
            raise NotFound(f"no configuration of the device has {element} {quoted(body[name])}",
                           field=f"$.{name}", device=ctx.device.name)
        raise Conflict(f"configuration {body['c_name']!r} has {element} "
                       f"{chosen.get(element)!r}, not {quoted(body[name])}",
                       field=f"$.{name}", device=ctx.device.name)
    profiles = await Profiles.of(ctx.device, ctx.credentials)
    if body["action"] == "create":
        await _create(write, ctx, profiles, chosen, body, read)
    else:
        await _delete(write, ctx, profiles, chosen["token"], body["c_name"])


async def _create(write: ConfigurationWrite, ctx: Context, profiles: Profiles,
                  chosen: dict[str, Any], body: dict[str, Any], read: Read) -> None:
    kind, token, policy = write.of, chosen["token"], write.policy
    if policy is not None:
        value = body[policy.field]
        key = policy.enum.to_json(value) if policy.enum else value
        if (await ctx.policy(policy.table)).get(key, POLICY_DEFAULT) == 0:
            raise Conflict(f"{quoted(value)} is disabled by the gateway policy ({policy.table})",
                           field=f"$.{policy.field}", device=ctx.device.name)
    owned = await ctx.store.owned_profiles(ctx.device.name)
    kinds = [kind] + ([write.into] if write.into else [])
    current = await profiles.list(kinds)
    if any(p.token in owned and p.holds.get(kind) == token for p in current):
        return  # already in use through a gateway profile: nothing to do
    if write.into is None:  # in a new profile of its own
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
            await _verify(ctx, profiles, new, kinds, token, "CreateProfile")
        except DeviceDidNotApply:
            await _discard(ctx, profiles, new)
            raise
        return
    host = next((p for p in current if p.token in owned and write.into in p.holds
                 and kind not in p.holds), None)
    if host is None:
        raise Conflict(f"no gateway profile with a {write.into} configuration has a free "
                       f"{kind} slot: put a {write.into} configuration into use first",
                       field="$.c_name", device=ctx.device.name)
    if write.change is not None:
        await _change(ctx, read, chosen, body, write.change)
    await profiles.add(host.token, kind, token)
    await _verify(ctx, profiles, host.token, kinds, token, profiles.add_operation(kind))


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


async def _change(ctx: Context, read: Read, chosen: dict[str, Any], body: dict[str, Any],
                  change: Change) -> None:
    """Give a configuration the value the body names (its encoding, say), when the device's
    options allow it; a body without the field leaves the value as it is."""
    if change.field not in body:
        return
    spec = read.fields[change.field]
    element, wanted = spec.path[0], body[change.field]
    # A value may have several ONVIF names (G.711: PCMU, PCMA, and G711A, a camera's own): the
    # configuration has it already under any of them, and the device is sent the one it offers.
    names = spec.enum.onvif_names(wanted) if spec.enum else (wanted,)
    if chosen.get(element) in names:
        return
    options = await ctx.device.call(read.service, change.options, ctx.credentials,
                                    ConfigurationToken=chosen["token"])
    offered = options.get("Options") or {}
    if isinstance(offered, dict) and isinstance(offered.get("Options"), list):
        offered = offered["Options"]  # Media1 audio: its option sets one level down
    if isinstance(offered, list):  # Media2: one option set per value (per codec)
        allowed = {o.get(element) for o in offered}
    else:  # Media1 video: one child element per value offered
        allowed = {name for name, value in offered.items() if value}
    wire = next((name for name in names if name in allowed), None)
    if wire is None:
        raise Conflict(f"configuration {chosen.get('Name')!r} is {chosen.get(element)} and the "
                       f"device cannot change it to {wanted}", field=f"$.{change.field}",
                       device=ctx.device.name)
    # Settings of the old value (Media2's Profile, Media1's H264 or MPEG4 block for a codec)
    # would not fit the new one: leave them out and let the device choose its defaults.
    changed = {**chosen, element: wire} | {key: None for key in change.reset if key in chosen}
    # Media1 asks whether the change should survive a reboot (it should); Media2 always persists.
    persist = {"ForcePersistence": True} if read.service in change.persist else {}
    await ctx.device.call(read.service, change.set, ctx.credentials, Configuration=changed,
                          **persist)


async def _delete(write: ConfigurationWrite, ctx: Context, profiles: Profiles, token: str,
                  c_name: str) -> None:
    """Take a configuration out of the gateway's profiles: delete the profiles made for it, or
    remove it from those it was added to; a profile the gateway did not make is never touched."""
    kind = write.of
    owned = await ctx.store.owned_profiles(ctx.device.name)
    holders = [p for p in await profiles.list([kind]) if p.holds.get(kind) == token]
    foreign = [p.token + (" (fixed)" if p.fixed else "") for p in holders if p.token not in owned]
    if foreign:
        raise Conflict(f"configuration {c_name!r} is used by profiles the gateway did not create, "
                       f"which it never touches: {', '.join(foreign)}", field="$.c_name",
                       device=ctx.device.name, profiles=foreign)
    for profile in holders:
        if write.into is None:
            await profiles.delete(profile.token)
        else:
            await profiles.remove(profile.token, kind, token)
    after = {p.token: p for p in await profiles.list([kind])}
    for profile in holders:
        left = after.get(profile.token)
        if write.into is None and left is None:
            await ctx.store.remove_profile(ctx.device.name, profile.token)
        elif left is not None and left.holds.get(kind) == token:
            operation = "DeleteProfile" if write.into is None else "RemoveConfiguration"
            raise DeviceDidNotApply(f"the device accepted {operation} but profile "
                                    f"{profile.token!r} still holds {c_name!r}", ctx.device.name)


async def _discard(ctx: Context, profiles: Profiles, profile: str) -> None:
    """Delete a profile the gateway just made that did not turn out right (best effort)."""
    with contextlib.suppress(DeviceError):
        await profiles.delete(profile)
    if all(p.token != profile for p in await profiles.list([])):
        await ctx.store.remove_profile(ctx.device.name, profile)


async def _verify(ctx: Context, profiles: Profiles, profile: str, kinds: list[str], token: str,
                  operation: str) -> None:
    """Read the profiles back: the profile must exist and hold the configuration (of kinds[0])."""
    found = next((p for p in await profiles.list(kinds) if p.token == profile), None)
    if found is not None and found.holds.get(kinds[0]) == token:
        return
    if found is None:
        await ctx.store.remove_profile(ctx.device.name, profile)
        detail = f"the device accepted {operation} but profile {profile!r} does not exist"
    else:
        detail = f"the device accepted {operation} but profile {profile!r} does not hold it"
    raise DeviceDidNotApply(detail, ctx.device.name)
