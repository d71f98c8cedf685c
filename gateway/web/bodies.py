"""Reading request bodies: JSON objects only, every field checked and named when wrong."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.errors import BadRequest, UnsupportedMediaType


async def read_object(request: web.Request, fields: dict[str, type]) -> dict[str, Any]:
    """The body as a JSON object holding exactly `fields`, each of its type, or a BadRequest."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json, not {request.content_type or 'nothing'}"
        )
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", field="$") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", field="$")
    for name in data:
        if name not in fields:
            raise BadRequest(
                f"unknown field {name!r} (expected: {', '.join(fields)})", field=f"$.{name}"
            )
    for name, kind in fields.items():
        if name not in data:
            raise BadRequest(f"missing field {name!r}", field=f"$.{name}")
        # bool is an int in Python, never in this API
        if not isinstance(data[name], kind) or isinstance(data[name], bool) != (kind is bool):
            raise BadRequest(f"{name!r} must be a {_json_type(kind)}", field=f"$.{name}")
    return data


def _json_type(kind: type) -> str:
    return {str: "string", int: "integer", bool: "boolean"}.get(kind, kind.__name__)
