"""The API's description, generated from what the running gateway serves, so it cannot drift.

    GET /openapi.json   OpenAPI 3.1: every route of the route table; the mapped resources'
                        JSON schemas built from their mapping files (fields, enums, WSDL types)
    GET /docs           Swagger UI, served from the swagger-ui-bundle package (works offline)
"""

from __future__ import annotations

import copy
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from gateway.config import DEVICE_NAME
from gateway.errors import NotFound, shortened
from gateway.keys import CONFIG, RESOURCES
from gateway.mapping.bodies import Body
from gateway.mapping.spec import (
    ActionWrite,
    CallWrite,
    ConfigurationWrite,
    Enum,
    Field,
    PolicyWrite,
    Read,
    Resource,
)
from gateway.web.events import WEBHOOK_BODY
from gateway.web.handlers import DEVICE_BODY, DEVICE_PREFIX, LOGIN_BODY, VALIDATE_BODY
from gateway.web.problems import MAX_BODY_BYTES, PROBLEM_JSON

Schema = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
# The Swagger UI that swagger-ui-bundle ships (4.15) renders OpenAPI 3.0 only: /docs is given the
# same description with the few 3.1-only spellings turned into their 3.0 ones (see openapi_30).
OPENAPI_30_PATH = "/docs/openapi-3.0.json"
FLAG: Schema = {"type": "integer", "enum": [0, 1]}
STRING: Schema = {"type": "string"}
# What an action's answer adds to the state read back (mapping/actions.py).
ACTION_ANSWER: dict[str, Schema] = {
    "fallback": {"type": "string", "description": "what was done instead, where the device "
                 "lacks the operation"},
    "clamped": {"type": "object", "additionalProperties": {"type": "number"},
                "description": "the body fields whose target lay outside the device's limits, "
                               "and the limit sent instead"},
    "lease_ms": {"type": "integer", "description": "the lease held: the move stops this long "
                 "after this answer unless renewed"},
}
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
              dict: "object", type(None): "null"}
# Every problem status the API answers with, and when.
STATUSES = {
    400: "The request is wrong (bad JSON; a missing, unknown or mistyped field or a value out of "
         "range, named in `field`), or the device says so (InvalidArgVal, InvalidArgs)",
    401: "No session token, or an unknown, ended or expired one; at login: credentials refused",
    403: "Above the session's ONVIF user level, or the device refused the user (NotAuthorized)",
    404: "No such device, or a name the device does not have (`field`); NoConfig, NoProfile, "
         "NoVideoSource",
    409: "Against the gateway policy or the device's state (ProfileExists, "
         "DeletionOfFixedProfile, MaxNVTProfiles, ConfigurationConflict)",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes",
    415: "The body is not sent as application/json",
    429: "Too many login guesses for the user or from the client address (`locked` says which, "
         "`locked_until` until when): try again after Retry-After seconds",
    501: "The device does not implement the operation (ActionNotSupported, an empty reply, a "
         "missing service)",
    502: "The device is unreachable, gave no usable SOAP answer, failed, or did not apply a write",
    503: "A device that failed repeatedly is rested for Retry-After seconds; or the shared "
         "state store (Redis) is unavailable; or the gateway is not ready",
    504: "The device did not answer within device_timeout",
}
# What can go wrong once a request reaches a device (its faults map onto these).
DEVICE = (400, 403, 404, 409, 501, 502, 503, 504)
BODY = (400, 413, 415)
SESSION_PATHS = ("/login", "/logout", "/validateUser")
PUBLIC_PATHS = {"/login", "/validateUser", "/healthz", "/readyz", "/openapi.json", "/docs"}
DOCS_ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}


def _object(properties: dict[str, Schema], closed: bool = True) -> Schema:
    """An object with exactly (closed) or at least these properties, all required."""
    schema: Schema = {"type": "object", "properties": properties, "required": list(properties)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def _ok(description: str, schema: Schema | None = None, media: str = "application/json",
        status: str = "200") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "headers": _headers()}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    return {status: response}


def _headers(**more: Schema) -> dict[str, Any]:
    return {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}, **more}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


# --- schemas from mapping files ---------------------------------------------------------------

def _enum_schema(enum: Enum) -> Schema:
    values = enum.json_values
    return {"type": JSON_TYPES[type(values[0])], "enum": values}


def _nullable(schema: Schema) -> Schema:
    schema = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _field_schema(resource: Resource, read: Read, field: Field) -> Schema | None:
    """A field's JSON schema in one read (None: always null there, as the others read it)."""
    if field.item is not None and read.over is not None:  # as the other resource has it
        over = read.over.reads[0]
        return _field_schema(read.over, over, over.fields[field.item])
    if field.policy is not None or field.derive is not None:
        return dict(FLAG)
    if field.present:
        return _enum_schema(field.enum) if field.enum else dict(STRING)
    if field.exists:
        return {"type": ["boolean", "null"] if field.optional else "boolean"}
    if field.absent:
        return None
    if field.param is not None:
        parameter = resource.parameters[field.param]
        return _enum_schema(parameter.enum) if parameter.enum else {"type": parameter.type}
    if field.path:
        if field.expires:
            return {"type": ["string", "null"], "format": "date-time"}
        schema = _enum_schema(field.enum) if field.enum else {"type": field.type}
        if field.repeated:  # every value of a repeated element
            schema = {"type": "array", "items": schema}
        if field.host or field.userinfo:
            schema = dict(STRING)
        return _nullable(schema) if field.optional else schema
    kind = JSON_TYPES.get(type(field.value), "string")
    if field.missing is not None:  # null unless that call had no reply
        return {"type": [kind, "null"], "enum": [field.value, None]}
    return {"type": kind, "const": field.value}


def _nest(flat: dict[str, Schema], may_be_null: set[str], prefix: str = "") -> Schema:
    """{"status.code": s} -> an object {"status": {"code": s}}, every level closed; an object
    whose fields are all in may_be_null (may be absent from the device's answer) may be null."""
    groups: dict[str, dict[str, Schema]] = {}
    properties: dict[str, Schema] = {}
    for dotted, schema in flat.items():
        head, _, rest = dotted.partition(".")
        if rest:
            groups.setdefault(head, {})[rest] = schema
        else:
            properties[head] = schema
    for head, inner in groups.items():
        nested = _nest(inner, may_be_null, f"{prefix}{head}.")
        if all(f"{prefix}{head}.{name}" in may_be_null for name in inner):
            nested["type"] = ["object", "null"]
        properties[head] = nested
    return _object(properties)


def read_schema(resource: Resource) -> Schema:
    """What GET answers: the fields of the mapping (the same for every alternative read)."""
    flat: dict[str, Schema] = {}
    may_be_null: set[str] = set()
    for name in resource.reads[0].fields:
        choices: list[Schema] = []
        for read in resource.reads:
            field = read.fields[name]
            schema = _field_schema(resource, read, field)
            if schema is None:
                continue
            schema = _nullable(schema) if any(r.fields[name].absent for r in resource.reads) \
                and "null" not in schema["type"] else schema
            if schema not in choices:
                choices.append(schema)
            if (field.path or field.present) and "null" in schema["type"]:
                may_be_null.add(name)
        if not choices:
            choices.append({"type": ["string", "null"]})
        flat[name] = choices[0] if len(choices) == 1 else {"anyOf": choices}
    item = _nest(flat, may_be_null)
    list_key = resource.reads[0].list
    return _object({list_key: {"type": "array", "items": item}}) if list_key else item


def _calls(resource: Resource) -> str:
    return ", else ".join(
        f"`{r.operation}` ({r.service} service"
        + (f", once for each item of {r.for_each})" if r.for_each else ")")
        for r in resource.reads)


WRITES = {
    PolicyWrite: "Stores the listed entries' flags in the gateway's policy, all or none; entries "
                 "not listed keep theirs, a name listed again takes its later value.",
    CallWrite: "Calls the device, then reads the state back: a change the device did not apply "
               "is a 502.",
    ActionWrite: "Makes the device act (the call its body chooses), after checking the body "
                 "against what GET shows (out of range: 400 naming the field, nothing sent). A "
                 "continuous move is held under a lease and stopped when it ends; `fallback` "
                 "says what was done instead where the device lacks an operation.",
    ConfigurationWrite: "`create` puts the configuration into use in a profile the gateway owns; "
                        "`delete` takes it out of the gateway's own profiles (never others: 409).",
}


def _action_schema(write: ActionWrite) -> Schema:
    """An action's body, and the fields each case needs (if mode is absolute, then pan...)."""
    schema = write.body.schema()
    chooser = write.body.fields[write.case].enum if write.case else None
    values = {str(value): value for value in chooser.json_values} if chooser else {}
    needs = [{"if": {"properties": {write.case: {"const": values[case]}}},
              "then": {"required": list(action.required)}}
             for case, action in write.actions.items() if write.case and action.required]
    # fields given together: if one is there (in this case), all are
    needs += [{"if": {"properties": {write.case: {"const": values[case]}}, "required": [name]},
               "then": {"required": list(group)}}
              for case, action in write.actions.items() if write.case
              for group in action.together for name in group]
    if needs:
        schema["allOf"] = needs
    return schema


def _request_body(body: Body, schema: Schema | None = None,
                  write: ActionWrite | None = None) -> dict[str, Any]:
    """A request body from its declaration: its schema (or a $ref to it), and an example made
    of its fields' examples (of an action, those its example case takes)."""
    content: dict[str, Any] = {"schema": schema or body.schema()}
    example = body.example()
    if write is not None and write.case:
        action = write.actions.get(str(example.get(write.case)))
        if action is not None:
            example = {name: value for name, value in example.items()
                       if name == write.case or name in action.takes}
    if example:
        content["example"] = example
    return {"required": True, "content": {"application/json": content}}


def _resource_operation(resource: Resource, method: str,
                        schemas: dict[str, Schema]) -> dict[str, Any]:
    name = _camel(resource.name)
    schemas.setdefault(name, read_schema(resource))
    if method != "PUT":
        return {
            "summary": resource.title,
            "description": f"Calls {_calls(resource)}. Needs an ONVIF {resource.level} or above.",
            "tags": [resource.title],
            "responses": {**_ok(resource.title, _ref(name)), **_problems(401, *DEVICE)},
        }
    assert resource.put is not None  # only resources with a [put] have a PUT route
    update = (_action_schema(resource.put) if isinstance(resource.put, ActionWrite)
              else resource.put.body.schema())
    schemas.setdefault(f"{name}Update", update)
    answer = name
    if isinstance(resource.put, ActionWrite):
        # the state read back, and what the action adds to it
        answer = f"{name}Done"
        done = read_schema(resource)
        done["properties"] = {**done["properties"], **ACTION_ANSWER}
        schemas.setdefault(answer, done)
    return {
        "summary": f"Change: {resource.title}",
        "description": f"{WRITES[type(resource.put)]}{_into(resource)} Answers with the state "
                      "read back, as GET would. Needs an ONVIF Operator or above.",
        "tags": [resource.title],
        "requestBody": _request_body(resource.put.body, _ref(f"{name}Update"),
                                     resource.put if isinstance(resource.put, ActionWrite)
                                     else None),
        "responses": {**_ok(f"{resource.title}, read back", _ref(answer)),
                      **_problems(401, *BODY, *DEVICE)},
    }


# --- the gateway's own routes ---------------------------------------------------------------

def _problems(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in sorted(set(statuses))}


DEVICE_ENTRY = _object({
    "id": STRING, "address": STRING,
    "status": {"type": "string", "enum": ["online", "auth-failed", "unreachable", "unknown"]},
    "last_seen": {"type": ["string", "null"], "format": "date-time"},
    "cause": {"type": ["string", "null"]},
    "clock": {"type": ["string", "null"], "enum": ["read", "unknown", "ignored", None]},
    "clock_offset": {"type": ["number", "null"]},
    "authentication": {"type": ["string", "null"], "enum": ["enforced", "not-enforced", None]},
    "manufacturer": {"type": ["string", "null"]}, "model": {"type": ["string", "null"]},
    "services": {"type": "array", "items": STRING}, "default": {"type": "boolean"},
    "services_unusable": {"type": "object", "additionalProperties": STRING},
    "configured_in": {"type": "string", "description":
                      "the configuration file's name (built in: the demo's), or runtime "
                      "(added with POST /devices)", "example": "gateway.ini"},
}, closed=False)

EVENT = _object({
    "device": STRING,
    "time": {"type": "string", "description": "the device's UtcTime of the notification (the "
             "gateway's clock for its own events)", "example": "2026-12-02T07:30:05Z"},
    "topic": {"type": "string", "description": "the device's topic, as sent; gateway/... for "
              "the gateway's own events", "example": "tns1:VideoSource/MotionAlarm"},
    "source": {"type": "object", "additionalProperties": STRING,
               "example": {"VideoSourceToken": "video1"}},
    "key": {"type": "object", "additionalProperties": STRING, "description": "ONVIF's Key: "
            "which instance of the source's property (an object's ObjectId); {} without one",
            "example": {}},
    "data": {"type": "object", "example": {"State": "true"}},
    "operation": {"type": ["string", "null"], "enum": ["Initialized", "Changed", "Deleted", None],
                  "description": "ONVIF's PropertyOperation; null for events that are not "
                                 "properties"},
    "kind": {"type": "string", "description": "motion, tamper, input, relay, video-loss, audio, "
             "analytics, configuration, hardware, monitoring or other; the gateway's own: "
             "subscription-lost, subscription-restored, disconnected", "example": "motion"},
})
WEBHOOK_PROPERTIES: dict[str, Schema] = {
    "id": STRING, "url": STRING, "topic": STRING,
    "devices": {"type": "array", "items": STRING},
    "created": STRING,
    "delivered": {"type": "integer"},
    "delivered_elsewhere": {"type": "integer", "description": "with several instances (Redis): "
                            "events another instance delivered"},
    "failed_attempts": {"type": "integer", "description": "attempts that got no 2xx answer"},
    "given_up": {"type": "integer", "description": "events given up after every retry"},
    "dropped": {"type": "integer", "description": "events lost because the receiver was too "
                                                  "slow for them"},
    "last_delivery": {"type": ["string", "null"]},
    "last_failure": {"type": ["string", "null"]},
    "last_error": {"type": ["string", "null"], "example": "HTTP 500"},
}
WEBHOOK_DELIVERY = {
    "post": {
        "summary": "An event, POSTed to a registered webhook url",
        "description": "The body is the Event, as /events sends it. X-Gateway-Signature is "
                       "sha256=<hex HMAC-SHA256 of the body with the webhook's secret>: check it "
                       "before trusting the body. Answer 2xx; anything else (redirects too) is "
                       "retried after webhook_retry seconds, doubling, webhook_retries times.",
        "parameters": [
            {"name": "X-Gateway-Signature", "in": "header", "required": True, "schema": STRING,
             "example": "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
            {"name": "X-Gateway-Event-Id", "in": "header", "required": True, "schema": STRING,
             "description": "the event's id (as in /events); the same on a retry"}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Event"}}}},
        "responses": {"2XX": {"description": "Delivered"}},
    },
}
TOPIC_PARAMETER = {"name": "topic", "in": "query", "required": False, "schema": STRING,
                   "description": "Only these kinds or topics, comma-separated (a topic matches "
                                  "its leading parts; namespace prefixes optional)",
                   "example": "motion,tns1:Device/Trigger"}
EVENT_STREAM = (
    "A text/event-stream (Server-Sent Events): each event is an `id:` line and a `data:` line "
    "holding one Event (JSON). A new client first gets the last value of each property "
    "(operation Initialized), then every notification. Reconnecting with Last-Event-ID resumes "
    "from the gateway's per-device buffer. The bare path serves the devices of every session "
    "token sent (one Authorization: Bearer line each). A client that does not keep up, or "
    "whose session ended (logout, expiry), is disconnected, with a last event of kind "
    "disconnected.")

FIXED: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/events"): {
        "summary": "Events of the device(s) as Server-Sent Events: one subscription per device, "
                   "shared by every client",
        "description": EVENT_STREAM,
        "tags": ["Events"],
        "parameters": [TOPIC_PARAMETER, {
            "name": "Last-Event-ID", "in": "header", "required": False, "schema": STRING,
            "description": "The id of the last event received: resume after it"}],
        "responses": {**_ok("The stream", {"type": "string", "example":
                                           'id: 3f2a91c0-5\ndata: {"device": "camera1", ...}'
                                           '\n\n'}, "text/event-stream"),
                      **_problems(401, 503)},
    },
    ("GET", "/events/ws"): {
        "summary": "The same events over a WebSocket: one JSON text message (an Event) each",
        "description": "Upgrade with the usual WebSocket handshake and an Authorization: Bearer "
                       "header (several for several devices, as for /events). The gateway sends, "
                       "the client only listens; no resume (use /events for Last-Event-ID).",
        "tags": ["Events"],
        "parameters": [TOPIC_PARAMETER],
        "responses": {"101": {"description": "Switching to the WebSocket protocol"},
                      **_problems(400, 401, 503)},
    },
    ("POST", "/webhooks"): {
        "summary": "Register a webhook (Operator): each event of the device(s) is POSTed to the "
                   "url, signed; the answer holds the secret, once",
        "description": "The url must lead into webhook_allow (gateway.ini). The device needs a "
                       "service account in gateway.ini. See the `webhooks` section for what is "
                       "POSTed.",
        "tags": ["Events"],
        "requestBody": _request_body(WEBHOOK_BODY),
        "responses": {**_ok("Registered", _object({**WEBHOOK_PROPERTIES, "secret": {
            "type": "string", "description": "the HMAC-SHA256 key of X-Gateway-Signature; "
                                             "shown this once"}}), status="201"),
                      **_problems(*BODY, 401, 403, 409, 503)},
    },
    ("GET", "/webhooks"): {
        "summary": "The webhooks of the device(s) and how their deliveries went (Operator)",
        "tags": ["Events"],
        "responses": {**_ok("The webhooks", _object({"webhooks": {
            "type": "array", "items": _ref("Webhook")}})), **_problems(401, 403, 503)},
    },
    ("DELETE", "/webhooks/{webhook_id}"): {
        "summary": "Remove a webhook (Operator of its device)",
        "tags": ["Events"],
        "responses": {**_ok("Removed", status="204"), **_problems(401, 403, 404, 503)},
    },
    ("GET", "/events/state"): {
        "summary": "The last value of each property event (is there motion now?)",
        "tags": ["Events"],
        "parameters": [TOPIC_PARAMETER],
        "responses": {**_ok("The properties", _object({"events": {
            "type": "array", "items": _ref("Event")}})), **_problems(401, 503)},
    },
    ("PUT", "/login"): {
        "summary": "Log in: the device checks the credentials; answers a session token",
        "tags": ["Sessions"],
        "requestBody": _request_body(LOGIN_BODY),
        "responses": {**_ok("A new session", _object({"sessionToken": STRING})),
                      **_problems(*BODY, 401, 429, *DEVICE)},
    },
    ("PUT", "/logout"): {
        "summary": "Log out: end the bearer token's session",
        "tags": ["Sessions"],
        "responses": {**_ok("Ended", status="204"), **_problems(401, 404, 503)},
    },
    ("PUT", "/validateUser"): {
        "summary": "Whether a session token is still usable for this device",
        "tags": ["Sessions"],
        "requestBody": _request_body(VALIDATE_BODY),
        "responses": {**_ok("1: usable, 0: not", _object({"valid": FLAG})),
                      **_problems(*BODY, 404, 503)},
    },
    ("GET", "/devices"): {
        "summary": "Every device the gateway fronts, and what it has seen of each",
        "tags": ["Devices"],
        "responses": {**_ok("The devices", _object({"devices": {
            "type": "array", "items": _ref("DeviceEntry")}})), **_problems(401, 503)},
    },
    ("POST", "/devices"): {
        "summary": "Front one more device (Administrator), from now on and after restarts",
        "tags": ["Devices"],
        "requestBody": _request_body(DEVICE_BODY),
        "responses": {**_ok("Added", _ref("DeviceEntry"), status="201"),
                      **_problems(*BODY, 401, 403, 409, 503)},
    },
    ("DELETE", "/devices/{device_id}"): {
        "summary": "Stop fronting a device added at run time (Administrator)",
        "tags": ["Devices"],
        "responses": {**_ok("Removed", status="204"), **_problems(401, 403, 404, 409, 503)},
    },
    ("GET", "/healthz"): {
        "summary": "Liveness: the process answers",
        "tags": ["Operations"],
        "responses": _ok("Alive", _object({"status": {"type": "string", "const": "ok"}})),
    },
    ("GET", "/readyz"): {
        "summary": "Readiness: WSDLs, mapping files, devices and the policy store are ready",
        "tags": ["Operations"],
        "responses": {**_ok("Ready", _object({
            "status": {"type": "string", "const": "ready"},
            "checks": {"type": "object", "additionalProperties": STRING}})), **_problems(503)},
    },
    ("GET", "/metrics"): {
        "summary": "Prometheus metrics",
        "description": "Needs a bearer token, unless the client's address is in `metrics_allow` "
                       "of gateway.ini.",
        "tags": ["Operations"],
        "responses": {**_ok("Prometheus text format", STRING, "text/plain"),
                      **_problems(401, 503)},
    },
    ("GET", "/openapi.json"): {
        "summary": "This description (OpenAPI 3.1)",
        "tags": ["Operations"],
        "responses": _ok("The OpenAPI document", {"type": "object"}),
    },
    ("GET", "/docs"): {
        "summary": "Swagger UI on this description",
        "tags": ["Operations"],
        "responses": _ok("The page", STRING, "text/html"),
    },
}
PICTURE = {"type": "string", "format": "binary"}
SNAPSHOT_PROBLEMS = (400, 401, *DEVICE)
FIXED[("GET", "/profiles/{token}/snapshot")] = {
    "summary": "A profile's picture (JPEG), fetched by the gateway",
    "description": "The gateway asks the device for the profile's snapshot URI (as the session's "
                   "user), fetches the picture with the user's credentials (HTTP Digest or "
                   "Basic) and answers it alone: the device's URI and the credentials are never "
                   "shown. Pictures are kept `snapshot_ttl` seconds per device and profile. 502: "
                   "the device's answer is not a JPEG, too large, a redirect, or from a host "
                   "that is not the device's; 504: too slow. Any ONVIF user may read it.",
    "tags": ["Snapshots"],
    "parameters": [{"name": "token", "in": "path", "required": True, "schema": STRING,
                    "description": "A media profile token (GET /profiles)",
                    "example": "profile_1"}],
    "responses": {**_ok("The picture", PICTURE, "image/jpeg"), **_problems(*SNAPSHOT_PROBLEMS)},
}
FIXED[("GET", "/snapshot")] = {
    "summary": "The picture (JPEG) of the device's first profile",
    "description": "As GET /profiles/{token}/snapshot, for the first profile of GET /profiles.",
    "tags": ["Snapshots"],
    "responses": {**_ok("The picture", PICTURE, "image/jpeg"), **_problems(*SNAPSHOT_PROBLEMS)},
}
# Served, but not API: the Swagger UI page's own files.
UNDESCRIBED = {"/docs/{asset}", OPENAPI_30_PATH}


def _generic(handler: Any) -> dict[str, Any]:
    """A route this module has no description of: what its docstring says, any JSON answer."""
    summary = ((getattr(handler, "__doc__", None) or "").strip().splitlines() or [""])[0]
    return {"summary": summary, "tags": ["Other"],
            "responses": {**_ok("Answer", {}), "default": {"$ref": "#/components/responses/"
                                                            "ProblemDefault"}}}


def _path_parameters(path: str, resource: Resource | None) -> list[Schema]:
    """The path's parameters, then the resource's query parameters, as declared."""
    declared = resource.parameters if resource is not None else {}
    parameters: list[Schema] = []
    for name in re.findall(r"\{(\w+)\}", path):
        if name == "device_id":
            parameters.append({"$ref": "#/components/parameters/DeviceId"})
        elif name not in declared:
            parameters.append({"name": name, "in": "path", "required": True, "schema": STRING})
    for parameter in declared.values():
        schema = _enum_schema(parameter.enum) if parameter.enum else {"type": parameter.type}
        if parameter.default is not None:
            schema["default"] = parameter.default
        described: Schema = {"name": parameter.name, "in": parameter.where,
                             "required": parameter.required, "schema": schema}
        if parameter.description:
            described["description"] = parameter.description
        if parameter.example is not None:
            described["example"] = parameter.example
        parameters.append(described)
    return parameters


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path.replace(DEVICE_PREFIX, "/device")).strip("_")
    return f"{method.lower()}_{words}" if words else method.lower()


def build_openapi(app: web.Application, title: str = "onvif-gateway") -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route the app serves."""
    resources = {resource.path: resource for resource in app[RESOURCES]}
    schemas: dict[str, Schema] = {"Problem": PROBLEM, "DeviceEntry": DEVICE_ENTRY, "Event": EVENT,
                                  "Webhook": _object(WEBHOOK_PROPERTIES)}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        if route.resource is None or route.method in ("HEAD", "OPTIONS", "*"):
            continue
        path = route.resource.canonical
        if path in UNDESCRIBED:
            continue
        per_device = path.startswith(f"{DEVICE_PREFIX}/")
        bare = path.removeprefix(DEVICE_PREFIX) if per_device else path
        # The seed's session paths take POST as well as PUT: one description for both.
        fixed = FIXED.get(("PUT" if bare in SESSION_PATHS else route.method, bare))
        if bare in resources:
            operation = _resource_operation(resources[bare], route.method, schemas)
        elif fixed is not None:
            operation = copy.deepcopy(fixed)
        else:
            operation = _generic(route.handler)
        operation["operationId"] = _operation_id(route.method, path)
        own = {p["name"]: p for p in operation.pop("parameters", [])}  # described in FIXED
        described = _path_parameters(path, resources.get(bare))
        parameters = [*(own.pop(p.get("name", ""), p) for p in described), *own.values(),
                      {"$ref": "#/components/parameters/RequestId"}]
        operation["parameters"] = parameters
        if (route.method, path) == ("DELETE", "/devices/{device_id}"):
            # Try it out removes the device that POST /devices's example adds
            parameters[0] = {**_parameters("")["DeviceId"],
                             "example": DEVICE_BODY.fields["id"].example}
        if per_device:
            operation["tags"] = ["Per device"]
        if "device_id" in path:
            operation["responses"].update(_problems(404))
        if bare in PUBLIC_PATHS:
            operation["security"] = []
        paths.setdefault(path, {})[route.method.lower()] = operation
    used = {tag for operations in paths.values() for op in operations.values()
            for tag in op["tags"]}
    order = ["Sessions", *(r.title for r in _page_order(app[RESOURCES])), "Snapshots", "Events",
             "Devices", "Per device", "Operations", "Other"]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": _version(),
                 "description": "A JSON REST API in front of ONVIF devices. Log in with PUT "
                                "/login, then send `Authorization: Bearer <sessionToken>`. Every "
                                "error is an RFC 9457 problem (application/problem+json). Paths "
                                "under /devices/{device_id}/ serve that device; the bare paths "
                                "serve the default one. This description, as OpenAPI 3.1: "
                                "/openapi.json."},
        "paths": dict(sorted(paths.items(), key=lambda item: (item[0].startswith(DEVICE_PREFIX),
                                                              item[0]))),
        "components": {"schemas": schemas, "responses": _problem_responses(),
                       "headers": HEADERS,
                       "parameters": _parameters(app[CONFIG].default_device.name),
                       "securitySchemes": {"bearer": {
                           "type": "http", "scheme": "bearer",
                           "description": "The sessionToken that PUT /login answers"}}},
        "security": [{"bearer": []}],
        "webhooks": {"event": WEBHOOK_DELIVERY},
        "tags": [{"name": tag} for tag in dict.fromkeys(order) if tag in used],
    }


def _into(resource: Resource) -> str:
    if isinstance(resource.put, ConfigurationWrite) and resource.put.into is not None:
        return (f" `create` needs a gateway profile holding a {resource.put.into} configuration:"
                " put one into use first (else 409).")
    return ""


def _page_order(resources: list[Resource]) -> list[Resource]:
    """The resources in the order /docs lists them: a configuration that goes into a profile
    holding another kind (`into`) after the others, so that trying each example from the top
    down has made that profile first (on the demo: a source configuration, then an encoder)."""
    return sorted(resources, key=lambda r: isinstance(r.put, ConfigurationWrite)
                  and r.put.into is not None)


def _version() -> str:
    try:
        return version("onvif-gateway")
    except PackageNotFoundError:  # running from a checkout that was not installed
        return "0"


PROBLEM: Schema = {
    "type": "object",
    "description": "An RFC 9457 problem, with the gateway's extension members",
    "required": ["type", "title", "status", "detail", "instance", "request_id"],
    "properties": {
        "type": {"type": "string", "description": "urn:onvif-gateway:problem:<kind>"},
        "title": STRING,
        "status": {"type": "integer"},
        "detail": STRING,
        "instance": {"type": "string", "description": "the request's path"},
        "request_id": {"type": "string", "description": "as in X-Request-ID and the log"},
        "field": {"type": "string", "description": "the JSON field at fault, e.g. $.password"},
        "device": {"type": "string", "description": "the device it is about"},
        "fault_code": {"type": "string", "description": "the device's SOAP fault code"},
        "fault_subcodes": {"type": "array", "items": STRING,
                           "description": "the device's SOAP fault subcodes (ter:...)"},
        "retry_after": {"type": "integer", "description": "seconds, as in Retry-After"},
        "locked": {"type": "array", "items": {"type": "string", "enum": ["user", "address"]},
                   "description": "429 at login: what is locked out, the user or the client "
                                  "address (or both)"},
        "locked_until": {"type": "string", "format": "date-time",
                         "description": "429 at login: when the lockout ends (UTC)"},
    },
}
HEADERS: dict[str, Any] = {
    "RequestId": {"description": "The request's id: the client's X-Request-ID if it was 1 to 64 "
                                 "of A-Z a-z 0-9 . _ -, else a new one", "required": True,
                  "schema": STRING},
    "RetryAfter": {"description": "Seconds to wait", "schema": {"type": "integer"}},
    "WWWAuthenticate": {"description": "Bearer", "schema": STRING},
}


def _parameters(default_device: str) -> dict[str, Any]:
    return {
        "DeviceId": {"name": "device_id", "in": "path", "required": True,
                     "description": "A device's name: a [device:NAME] of gateway.ini, or added "
                                    "at run time",
                     "schema": {"type": "string", "pattern": DEVICE_NAME.pattern},
                     "example": default_device},
        "RequestId": {"name": "X-Request-ID", "in": "header", "required": False,
                      "description": "An id for this request, kept if it is 1 to 64 of "
                                     "A-Z a-z 0-9 . _ - (else the gateway makes one)",
                      "schema": STRING},
    }


def _problem_responses() -> dict[str, Any]:
    content = {PROBLEM_JSON: {"schema": _ref("Problem")}}
    responses: dict[str, Any] = {}
    for status, description in STATUSES.items():
        extra = {}
        if status == 401:
            extra["WWW-Authenticate"] = {"$ref": "#/components/headers/WWWAuthenticate"}
        if status in (429, 503):
            extra["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
        responses[f"Problem{status}"] = {"description": description, "content": content,
                                         "headers": _headers(**extra)}
    responses["ProblemDefault"] = {"description": "An error", "content": content,
                                   "headers": _headers()}
    return responses


def openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """The same description in OpenAPI 3.0 spelling: nullable instead of a "null" type, a
    one-value enum instead of const, no empty `required`, no if/then."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: convert(value) for key, value in node.items()}
        kinds = node.get("type")
        if isinstance(kinds, list):
            others = [kind for kind in kinds if kind != "null"]
            node["type"] = others[0]
            if "null" in kinds:
                node["nullable"] = True
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if node.get("required") == []:  # 3.0 wants at least one name there
            del node["required"]
        if "if" in node:  # 3.0 has no if/then: the check remains the gateway's (a 400)
            return {}
        return node

    converted: dict[str, Any] = convert(document)
    converted["openapi"] = "3.0.3"
    converted.pop("webhooks", None)  # a 3.1 member; 3.0 has no place for it
    return converted


# --- handlers -----------------------------------------------------------------------------------

async def openapi_json(request: web.Request) -> web.Response:
    """This gateway's OpenAPI 3.1 description."""
    return web.json_response(build_openapi(request.app))


async def openapi_30_json(request: web.Request) -> web.Response:
    return web.json_response(openapi_30(build_openapi(request.app)))


DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>onvif-gateway API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "%(url)s",
      dom_id: "#swagger-ui",
      persistAuthorization: true,
      validatorUrl: null,
      deepLinking: true,
    });
  </script>
</body>
</html>
"""


async def docs(request: web.Request) -> web.Response:
    """Swagger UI on this gateway's description."""
    # Relative URLs: the page works behind a proxy that serves the gateway under a prefix too.
    page = DOCS_PAGE % {"url": OPENAPI_30_PATH.lstrip("/")}
    return web.Response(text=page, content_type="text/html")


async def docs_asset(request: web.Request) -> web.FileResponse:
    """One of the few Swagger UI files the page loads (and nothing else of the package)."""
    asset = request.match_info["asset"]
    if asset not in DOCS_ASSETS:
        raise NotFound(f"no resource at {shortened(request.path)}")
    return web.FileResponse(swagger_ui_path / asset)


def routes() -> list[web.RouteDef]:
    return [web.get("/openapi.json", openapi_json, allow_head=False),
            web.get(OPENAPI_30_PATH, openapi_30_json, allow_head=False),
            web.get("/docs", docs, allow_head=False),
            web.get("/docs/{asset}", docs_asset, allow_head=False)]
