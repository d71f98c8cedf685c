"""The one place errors become HTTP answers: application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.errors import (
    ExpectationFailed,
    GatewayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    quoted,
    shortened,
)
from gateway.keys import REQUEST_ID

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# Every request body the API takes is a small JSON object; anything bigger is refused with 413.
MAX_BODY_BYTES = 64 * 1024


def problem_body(error: GatewayError, instance: str,
                 request_id: str | None = None) -> dict[str, Any]:
    """The RFC 9457 members of an error, plus its extension members (device, field, fault codes)
    and the request's id (as in the log and X-Request-ID)."""
    body = {
        "type": f"urn:onvif-gateway:problem:{error.slug}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": instance,
        **error.extra,
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


def _from_http(exc: web.HTTPException, request: web.Request) -> GatewayError:
    """aiohttp's own refusals (no route, wrong method, body too big) as gateway errors."""
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(f"no resource at {shortened(request.path)}")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods - {hdrs.METH_HEAD}))  # (refused: below)
        return MethodNotAllowed(
            f"{shortened(request.method)} is not allowed on {shortened(request.path)}; use "
            f"{allowed}", allow=allowed,
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    error = GatewayError(exc.reason)
    error.status, error.title = exc.status, exc.reason
    return error


def _head_refused(request: web.Request) -> GatewayError:
    """aiohttp runs a GET handler for HEAD too, and a GET may act (GET /reboot reboots, as the
    seed has it): HEAD is served nowhere, so that it never has a side effect."""
    resource = request.match_info.route.resource
    if resource is not None:
        methods = {route.method for route in resource}
    elif isinstance(refused := request.match_info.http_exception, web.HTTPMethodNotAllowed):
        methods = set(refused.allowed_methods)  # (a path without GET: aiohttp matched no route)
    else:
        return NotFound(f"no resource at {shortened(request.path)}")
    allowed = ", ".join(sorted(methods - {hdrs.METH_HEAD}))
    return MethodNotAllowed(f"HEAD is not allowed on {shortened(request.path)}; use {allowed}",
                            allow=allowed)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as application/problem+json; handlers only raise."""
    try:
        if request.method == hdrs.METH_HEAD:
            raise _head_refused(request)
        return await handler(request)
    except GatewayError as exc:
        error = exc
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _from_http(exc, request)
    except Exception:
        # A bug, not a device problem: keep the traceback in the log, give the client no internals.
        log.exception("unexpected error on %s %s", request.method, shortened(request.path))
        error = GatewayError("the gateway failed unexpectedly; the error is in its log")
    return _answer(error, request)


async def expect(request: web.Request) -> web.StreamResponse | None:
    """Every route's Expect handler (aiohttp calls it before any middleware): 100 Continue only
    for a body the gateway would read; one declared past MAX_BODY_BYTES is refused at once (413,
    before the client sends it), any other expectation too (417), as problems. aiohttp's own
    sent 100 Continue for any size, and a text/plain 417."""
    expectation = request.headers.get(hdrs.EXPECT, "")
    if expectation.lower() != "100-continue":
        return _answer(ExpectationFailed(f"the gateway meets no expectation but 100-continue, "
                                         f"not {quoted(expectation)}"), request)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _answer(PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} "
                                       "bytes"), request)
    if request.version >= (1, 1):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # (the answer is still to come, as aiohttp's does)
    return None


def _answer(error: GatewayError, request: web.Request) -> web.Response:
    """An error as an application/problem+json answer."""
    headers = {}
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = error.extra["allow"]
    if "retry_after" in error.extra:  # 429 for logins, 503 for a device resting
        headers["Retry-After"] = str(error.extra["retry_after"])
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="onvif-gateway"'
    response = web.json_response(
        problem_body(error, request.path, request.get(REQUEST_ID)), status=error.status,
        content_type=PROBLEM_JSON, headers=headers,
    )
    if request.content.exception() is not None:  # (a body that did not decode: the rest of the
        response.force_close()                    # connection's bytes cannot be read either)
    return response
