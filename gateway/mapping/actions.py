"""The `action` write: a PUT that makes the device do something (move, go to a preset, stop).

Declared in a mapping file's [put] (see spec.py): a body, then the call to make, or one call per
value of a body field (`case`). Each action may be checked first against ranges its resource's
GET shows (`ranges`) and what it says the device has (`supported`), fall back to another call
where the device lacks the operation (`else`),
be verified against the GET read back after it (`verify`; read back again while it shows the
action going on, `wait_while`, at most move_settle seconds; a value read back as null, which the
device does not tell, is left to the device to check), and hold a lease whose end makes the
`stop` call (gateway/leases.py). A sum among its arguments may be clamped into limits the GET
shows (`within`). The answer is the GET read back, plus `fallback` (what was done instead, when
it was), `clamped` (the values clamped, as sent) and `lease_ms` (when a lease is held).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.errors import BadRequest, DeviceDidNotApply, DeviceFault, quoted
from gateway.mapping.arguments import sources
from gateway.mapping.engine import NOT_IMPLEMENTED, Context, call, make_calls, read_resource
from gateway.mapping.spec import Action, ActionWrite, Resource

# How far a position read back may be from the one asked for (device rounding, float32).
TOLERANCE = 1e-3
# How often an action that goes on (a head on its way) is read back: often enough to answer soon
# after it ends, seldom enough to spare the device (three calls a read back for PTZ).
POLL_SECONDS = 0.25


def flat(answer: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path of a JSON answer ("limits.pan.min"), None if absent."""
    value: Any = answer
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def lease_key(resource: Resource, ctx: Context) -> tuple[Any, ...]:
    """What a lease is held on: the device and the resource's path parameters (a profile)."""
    return (ctx.device.name, *sorted((name, ctx.params[name])
                                     for name, p in resource.parameters.items()
                                     if p.where == "path"))


def lease_stop(resource: Resource, case: str) -> str:
    """What another instance needs besides the lease's key to make its stop: the resource and
    the case of its PUT the lease was held for (see stop_lease)."""
    return json.dumps([resource.name, case])


def held_for(key: str, stop: str) -> tuple[str, dict[str, Any], str, str]:
    """A lease's key (gateway.leases: the JSON of lease_key) and lease_stop, read back: the
    device, the path parameters, the resource's name and the case."""
    device, *params = json.loads(key)
    name, case = json.loads(stop)
    return device, dict(params), name, case


async def stop_lease(resource: Resource, case: str, ctx: Context) -> None:
    """Make the stop of a lease held for a case of resource's PUT (at its end here, or by an
    instance now gone)."""
    assert isinstance(resource.put, ActionWrite)
    lease = resource.put.actions[case].lease
    assert lease is not None
    await _make(resource, lease.stop, ctx, {})


def _clamps(action: Action) -> bool:
    """Whether an action (or its `else`) clamps a value into the GET's limits (`within`)."""
    return any(source.within for source in sources(action.arguments)) or (
        action.otherwise is not None and _clamps(action.otherwise))


def _reads_state(action: Action) -> bool:
    """Whether an action's own arguments depend on the GET (`when`)."""
    return any(source.kind == "state" for source in sources(action.arguments))


def _check_axes(action: Action, body: dict[str, Any], state: dict[str, Any] | None,
                device: str) -> None:
    """Fields given together or not at all; a field the GET says the device lacks."""
    for group in action.together:
        given = [name for name in group if name in body]
        if given and len(given) < len(group):
            missing = next(name for name in group if name not in body)
            raise BadRequest(f"{' and '.join(group)} go together: {given[0]!r} is given, "
                             f"{missing!r} is not", field=f"$.{missing}", device=device)
    for name, shown in action.supported.items():
        if name in body and state is not None and flat(state, shown) is False:
            raise BadRequest(f"{name!r}: the device has none ({shown} is false)",
                             field=f"$.{name}", device=device)


def _check_ranges(action: Action, body: dict[str, Any], state: dict[str, Any],
                  device: str) -> None:
    for name, allowed in action.ranges.items():
        if name not in body:
            continue
        value, where = body[name], f"$.{name}"
        if allowed.one_of is not None:
            choices = flat(state, allowed.one_of)
            if choices is None:
                continue  # the device tells none: it decides, and the value is read back
            if value not in choices:
                raise BadRequest(f"{name} must be one of {choices} (the device's "
                                 f"{allowed.one_of}), not {quoted(value)}", field=where,
                                 device=device)
            continue
        low = flat(state, allowed.min) if allowed.min else None
        high = flat(state, allowed.max) if allowed.max else None
        if (low is not None and value < low) or (high is not None and value > high):
            shown = f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"
            raise BadRequest(f"{name} must be within {shown} (the device's {allowed.min} .. "
                             f"{allowed.max}), not {quoted(value)}", field=where, device=device)


async def _make(resource: Resource, action: Action, ctx: Context, body: dict[str, Any]) -> str:
    """Make an action's calls, then its own; its `else` instead where the device lacks it.
    Returns the note of the action that was used in the end ("" for the first)."""
    try:
        await make_calls(resource, ctx, action.calls, body)
        if ctx.state is None and _reads_state(action):
            ctx.state = await read_resource(resource, ctx)
        await call(resource, ctx, action.service, action.operation, action.arguments, body)
    except DeviceFault as exc:
        if action.otherwise is None or exc.status != NOT_IMPLEMENTED:
            raise
        await _make(resource, action.otherwise, ctx, body)
        return action.otherwise.note
    return ""


async def put_action(resource: Resource, write: ActionWrite, ctx: Context,
                     body: dict[str, Any]) -> dict[str, Any]:
    """With a body checked against its declaration: check what the case needs and the ranges,
    make the action, read back, verify."""
    case = str(body[write.case]) if write.case else ""
    action = write.actions[case]
    for name in action.required:
        if name not in body:
            raise BadRequest(f"{write.case} {case} needs {name!r}", field=f"$.{name}")
    for name in body:
        if name != write.case and name not in action.takes:
            raise BadRequest(f"{name!r} does not go with {write.case} {case} (it takes: "
                             f"{', '.join(sorted(action.takes)) or 'nothing more'})",
                             field=f"$.{name}")
    seconds = None
    if action.lease is not None:
        seconds = _lease_seconds(action, body, ctx)
    for group in action.one_of:
        if not any(name in body for name in group):
            raise BadRequest(f"{write.case} {case} needs one of {', '.join(map(repr, group))}",
                             field=f"$.{group[0]}")
    if action.ranges or _clamps(action) or any(name in body for name in action.supported):
        ctx.state = await read_resource(resource, ctx)
        _check_ranges(action, body, ctx.state, ctx.device.name)
    _check_axes(action, body, ctx.state, ctx.device.name)

    key = lease_key(resource, ctx)
    if ctx.leases is not None:
        await ctx.leases.release(key)  # this command supersedes whatever a lease held
    note = await _make(resource, action, ctx, body)
    if action.lease is not None and ctx.leases is not None and seconds is not None:
        stopper = Context(ctx.device, ctx.credentials, ctx.store, dict(ctx.params))

        async def stop_it() -> None:
            await stop_lease(resource, case, stopper)

        seconds = await ctx.leases.hold(key, ctx.owner, seconds, stop_it,
                                        lease_stop(resource, case))

    state, going_on = await _read_back(resource, action, ctx)
    for name, shown in action.verify.items():
        now = flat(state, shown)
        # null: the device tells nothing of it (a head without GetStatus), and checks it alone
        if name in body and now is not None and not _close(now, body[name]):
            still = (f" ({going_on} = {action.wait_while[going_on]!r} after {ctx.settle:g} s, "
                     "move_settle of gateway.ini)" if going_on else "")
            raise DeviceDidNotApply(
                f"the device accepted {action.operation} but reports {shown} = {now!r}, not "
                f"{quoted(body[name])}{still}", ctx.device.name)
    if note:
        state["fallback"] = note
    if ctx.clamped:
        state["clamped"] = dict(ctx.clamped)
    if seconds is not None:
        state["lease_ms"] = round(seconds * 1000)
    return state


async def _read_back(resource: Resource, action: Action,
                     ctx: Context) -> tuple[dict[str, Any], str]:
    """The GET after an action: read again while it shows the action still going on (a
    `wait_while` field with its value), at most ctx.settle seconds. Returns the state and the
    field that still showed it ("" once none does; a device that reports none of them is read
    once, as it is)."""
    deadline = ctx.clock() + ctx.settle
    while True:
        ctx.forget()
        state = await read_resource(resource, ctx)
        going_on = next((name for name, value in action.wait_while.items()
                         if flat(state, name) == value), "")
        left = deadline - ctx.clock()
        if not going_on or left <= 0:
            return state, going_on
        await asyncio.sleep(min(POLL_SECONDS, left))


def _lease_seconds(action: Action, body: dict[str, Any], ctx: Context) -> float:
    assert action.lease is not None
    assert ctx.leases is not None
    leases, name = ctx.leases, action.lease.field
    if name not in body:
        return leases.default
    limit = round(leases.maximum * 1000)
    if not 1 <= body[name] <= limit:
        raise BadRequest(f"{name} must be within 1..{limit} (move_lease_max of gateway.ini), "
                         f"not {quoted(body[name])}", field=f"$.{name}")
    return float(body[name]) / 1000


def _close(shown: Any, asked: Any) -> bool:
    if isinstance(shown, int | float) and isinstance(asked, int | float):
        return abs(shown - asked) <= TOLERANCE
    return bool(shown == asked)
