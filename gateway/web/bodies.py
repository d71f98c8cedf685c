"""Reading request bodies: JSON only, bounded in depth; then checked against their declaration
(gateway.mapping.bodies), every field named ($.a[1].b) when wrong."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aiohttp import web

from gateway.errors import BadRequest, UnsupportedMediaType, quoted, shortened
from gateway.mapping.bodies import Body

# The API's bodies are at most three levels deep ({"sources": [{"name": ...}]}).
MAX_DEPTH = 8
# JSON's \u escapes can write a lone surrogate; no text encoding can carry one further.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


TOO_DEEP = object()  # (what a body nested past Python's own limit reads as)


class NotANumber:
    """Where the body has NaN, Infinity or -Infinity (no JSON, but Python's json reads them) or
    a number past a float's range (1e999, which would read as infinity): none may pass a range
    check as a number would (NaN compares false with every bound) and reach a device."""

    def __init__(self, text: str) -> None:
        self.text = text


def _number(text: str) -> float | NotANumber:
    number = float(text)
    return number if math.isfinite(number) else NotANumber(text)


async def read_json(request: web.Request) -> Any:
    """The body as JSON; 415 if it is not sent as JSON, 400 if it does not parse."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json, not {request.content_type or 'nothing'}"
        )
    try:
        raw = await request.read()
    except web.RequestPayloadError:  # (what aiohttp raises for a body it cannot decode)
        encoding = request.headers.get("Content-Encoding", "none")
        raise BadRequest(f"the body does not decode as its Content-Encoding ({encoding}) says",
                         field="$") from None
    try:
        data = json.loads(raw, parse_constant=NotANumber, parse_float=_number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", field="$") from None
    except RecursionError:
        data = TOO_DEEP  # nested past Python's limit: past ours too
    if data is TOO_DEEP or _depth(data) > MAX_DEPTH:
        raise BadRequest(f"the body is nested deeper than {MAX_DEPTH} levels", field="$")
    refused = _unusable(data, "$")
    if refused is not None:
        where, why = refused
        raise BadRequest(why, field=where)
    return data


def _unusable(value: Any, where: str) -> tuple[str, str] | None:
    """Where the first value no device may be sent is, and why: a string (or object key) with
    a lone surrogate (JSON's \\u escapes can write one, but no text encoding can carry it
    further: to a device, a store, a hash), or a NotANumber."""
    if isinstance(value, str):
        return (where, SURROGATE) if LONE_SURROGATE.search(value) else None
    if isinstance(value, NotANumber):
        return where, f"{value.text} is no JSON number (a number is finite, as RFC 8259 has it)"
    if isinstance(value, dict):
        for key, item in value.items():
            if LONE_SURROGATE.search(key):
                return where, SURROGATE
            found = _unusable(item, f"{where}.{key}")
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unusable(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


SURROGATE = ("a string holds a lone surrogate (\\ud800-\\udfff not in a pair), which is no "
             "Unicode character")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


async def read_nothing(request: web.Request) -> None:
    """A PUT or POST that takes no body (POST /reboot, PUT /logout): none, or {} (what some
    clients send for nothing); any other is refused (400 naming its first field, 415 if not
    JSON) before anything is done, lest a request meant otherwise act."""
    if not request.body_exists:
        return
    body = await read_json(request)
    if isinstance(body, dict) and body:
        key = next(iter(body))
        raise BadRequest(f"unknown field {quoted(key)} ({request.method} "
                         f"{shortened(request.path)} takes no body)", field=f"$.{shortened(key)}")
    if body != {}:
        raise BadRequest(f"{request.method} {shortened(request.path)} takes no body, or {{}}",
                         field="$")


async def read_object(request: web.Request, body: Body) -> dict[str, Any]:
    """The body as JSON, checked against its declaration (gateway.mapping.bodies)."""
    return body.check(await read_json(request))
