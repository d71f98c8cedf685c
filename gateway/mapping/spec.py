"""Mapping files: what a REST resource is in ONVIF terms, as plain data checked at start.

One TOML file per resource in mappings/ (enums.toml: the enums they share). The vocabulary is
documented in one place, README.md's "Mapping files" section, with worked examples. This module
parses a file into a Resource and checks it against the WSDLs: a wrong key, service, operation,
element, argument, parameter, body field, enum, policy or configuration kind stops start-up with
the file and the path inside it named. Call arguments are checked in arguments.py, request
bodies declared in bodies.py.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zeep.xsd import Attribute, ComplexType

from gateway.access import LEVELS, READ
from gateway.errors import BadRequest, MappingError, NotFound, quoted, shortened
from gateway.mapping.arguments import (
    SOURCES,
    Lookup,
    Source,
    needs_one_of,
    parse_arguments,
    sources,
    xsd_json_type,
)
from gateway.mapping.bodies import Body, parse_body
from gateway.mapping.profiles import media1_slot
from gateway.mapping.values import (
    JSON_TYPES,
    Enum,
    from_text,
    is_json_type,
    parse_enum,
    xml_text,
)
from gateway.soap.wsdl import SERVICES, Wsdls
from gateway.soap.xml import TR2, qname

__all__ = ["Enum", "Field", "Match", "Parameter", "Read", "Resource", "Source",
           "load_mappings"]

SHARED_ENUMS = "enums.toml"  # in a mappings folder: the enums every file may use
DERIVED = {"in_use"}
PARAMETER_NAME = re.compile(r"[a-z][a-z0-9_]*")
PATH_PARAMETER = re.compile(r"\{([^{}]*)\}")
# The configuration kinds: the values of Media2's tr2:ConfigurationEnumeration (but All).
KINDS = qname(TR2, "ConfigurationEnumeration")
WRITES = {"policy", "call", "configuration", "action"}
ACTION_KEYS = {"calls", "arguments", "required", "together", "supported", "ranges", "verify",
               "wait_while", "else",
               "note", "lease"}
ACTIONS = ("create", "delete")


URI_HOSTS = {"stream_host"}  # where a URI's host may come from (a setting of the device)


@dataclass(frozen=True)
class Field:
    """Where one JSON field's value comes from (exactly one of path, policy, derive, value...)."""

    path: tuple[str, ...] = ()
    enum: Enum | None = None
    policy: str | None = None
    derive: str | None = None
    of: str | None = None
    value: Any = None
    present: bool = False
    item: str | None = None  # fan-out: a field of the item the call was made for
    # of an element's value, from its XSD type: its JSON type ("object" for a complex one), and
    # whether the element (or one on the way to it from the item) may be absent
    type: str = "string"
    optional: bool = False
    # path's alternatives (element = [...]): the first present of path and these answers
    alternatives: tuple[tuple[str, ...], ...] = ()
    # true or false: whether one of these elements is in the answer (null: no answer)
    exists: tuple[tuple[str, ...], ...] = ()
    param: str | None = None  # the value of the request's parameter
    absent: bool = False  # always null
    host: str | None = None  # a URI's host replaced by this device setting, when it is set
    userinfo: str | None = None  # a URI given the user's credentials when this parameter is true
    expires: bool = False  # an xs:duration from now, as the UTC time it ends
    missing: str | None = None  # `value` only when this named call has no reply, else null

    @property
    def from_device(self) -> bool:
        """Whether the value comes from the device's answer."""
        return bool(self.path or self.present or self.exists)
    source: str | None = None  # `from`: the named call whose reply the path is in
    repeated: bool = False  # a repeated element: a JSON list of its values


@dataclass(frozen=True)
class Call:
    """A call made before the one it belongs to, named: its reply feeds later arguments
    ({ reply = "name", element = "..." }) and fields (`from = "name"`)."""

    name: str
    service: str
    operation: str
    arguments: dict[str, Any]
    # `optional = true`: where the device lacks the operation (501), there is no reply, so the
    # fields from it are null (unknown), instead of the whole resource being a 501
    optional: bool = False
    # `else`: the call made instead where the device lacks this one (501); its answer has the
    # elements this one's has (GetNodes' PTZNode for GetNode's)
    otherwise: Call | None = None
    # `match`: of the reply's repeated element, only the entries with this value (none: no reply)
    match: Match | None = None

    @property
    def may_be_missing(self) -> bool:
        """Whether the call may end without a reply (optional, or no entry matched)."""
        return self.optional or self.match is not None or (
            self.otherwise is not None and self.otherwise.may_be_missing)


@dataclass(frozen=True)
class Match:
    """`match = { "A.key" = <value> }`: the entries of the reply's repeated element A whose `key`
    is the value (a parameter, or an element of an earlier call's reply)."""

    entries: tuple[str, ...]
    key: str
    value: Source


@dataclass(frozen=True)
class Read:
    """One ONVIF call, and the JSON taken from its response."""

    service: str
    operation: str
    arguments: dict[str, Any]  # ONVIF element = constant, nested table or Source (arguments.py)
    fields: dict[str, Field]
    list: str | None = None
    items: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    fallback: bool = False
    # fan-out: one call per item of this other resource's list (for_each names its path)
    for_each: str | None = None
    over: Resource | None = None  # that resource, linked once every file is loaded
    calls: tuple[Call, ...] = ()  # made first, in order
    # `optional = true`: where the device lacks the operation (501), the read goes on without
    # its reply: the fields from it are null, and a field { value, missing = "<operation>" }
    # says why
    optional: bool = False


@dataclass(frozen=True)
class Parameter:
    """A path (/profiles/{token}) or query (?protocol=RTSP) parameter of a resource, typed."""

    name: str
    where: str  # "path" | "query"
    type: str = "string"
    enum: Enum | None = None
    required: bool = True
    default: Any = None
    description: str = ""
    example: Any = None

    @property
    def field(self) -> str:
        """How problems name it: path.token, query.protocol."""
        return f"{self.where}.{self.name}"

    def source(self) -> Source:
        """What a call argument taken from this parameter is."""
        return Source("param", self.name, self.type, self.enum,
                      self.required or self.default is not None)


@dataclass(frozen=True)
class Policy:
    """A body field whose value must be enabled in a policy table (through an enum, if given)."""

    field: str
    table: str
    enum: Enum | None = None


@dataclass(frozen=True)
class PolicyWrite:
    """PUT stores the body's enabled flags in the resource's policy table."""

    body: Body


@dataclass(frozen=True)
class CallWrite:
    """PUT calls an operation with arguments (arguments.py) from the body's fields."""

    body: Body
    service: str
    operation: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ConfigurationWrite:
    """PUT creates or deletes the use of a configuration of kind `of` in gateway profiles: in a
    profile of its own (`into` None), or in one holding a configuration of kind `into`."""

    body: Body
    of: str
    into: str | None
    policy: Policy | None
    match: dict[str, str]  # body field = the configuration's element it must equal
    change: Change | None


@dataclass(frozen=True)
class Change:
    """A body field naming the value a GET field's element must have: when it differs, the
    device's options (`options`, by ConfigurationToken) must allow it, then `set` is called with
    the configuration changed, its `reset` elements left out for the device to choose anew."""

    field: str
    options: str
    set: str
    reset: tuple[str, ...]
    persist: frozenset[str] = frozenset()  # services whose `set` takes ForcePersistence


@dataclass(frozen=True)
class Range:
    """What a body field must be within, as its resource's GET shows it (dotted JSON names)."""

    min: str | None = None
    max: str | None = None
    one_of: str | None = None  # a list of the allowed values


@dataclass(frozen=True)
class Lease:
    """An action that goes on until stopped: held for `field` milliseconds (or the default of
    gateway.ini), then `stop` is made (gateway/leases.py)."""

    field: str
    stop: Action


@dataclass(frozen=True)
class Action:
    """A call a PUT makes (mapping/actions.py), with what is checked before and after it."""

    service: str
    operation: str
    arguments: dict[str, Any]
    calls: tuple[Call, ...] = ()
    required: tuple[str, ...] = ()  # body fields this action needs
    # groups of body fields one of each it needs (from the WSDL: arguments.needs_one_of)
    one_of: tuple[tuple[str, ...], ...] = ()
    # the body fields it takes (its arguments', its calls', its else's, its lease's...): any
    # other is a 400, lest a client believe it was done (lease_ms of an absolute move)
    takes: frozenset[str] = frozenset()
    together: tuple[tuple[str, ...], ...] = ()  # body fields given all or none (pan and tilt)
    # body field = a GET field: given while the GET shows false (the device has no such axis),
    # a 400 naming it; null (not known) lets it through
    supported: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)
    verify: dict[str, str] = field(default_factory=dict)  # body field = GET field read back
    # GET field = a value: the read back is made again while one shows its value (a head
    # still MOVING), at most move_settle seconds of gateway.ini
    wait_while: dict[str, Any] = field(default_factory=dict)
    otherwise: Action | None = None  # `else`: made instead where the device lacks the operation
    note: str = ""  # said in the answer (`fallback`) when this action was the `else`
    lease: Lease | None = None


@dataclass(frozen=True)
class ActionWrite:
    """PUT makes an action: the one given, or the one of `cases` the body's `case` field names."""

    body: Body
    case: str | None
    actions: dict[str, Action]  # by the case field's value ("" when there is no case)


Write = PolicyWrite | CallWrite | ConfigurationWrite | ActionWrite


@dataclass(frozen=True)
class Guard:
    """The profile a path parameter names must use an enabled source and codec (policy)."""

    param: str
    sources: str  # the policy table of video sources, keyed by their tokens
    encoders: str  # the policy table of codecs, keyed by the JSON names of `enum`
    enum: Enum


@dataclass(frozen=True)
class Resource:
    """A REST resource declared by one mapping file."""

    name: str
    path: str
    title: str
    methods: tuple[str, ...]
    level: str  # the lowest tt:UserLevel that may read (GET/POST); every PUT needs WRITE
    reads: tuple[Read, ...]
    put: Write | None
    parameters: dict[str, Parameter] = field(default_factory=dict)
    fallbacks: tuple[Read, ...] = ()
    guard: Guard | None = None

    @property
    def cacheable(self) -> bool:
        """Whether its GET answers may be kept a moment: only reads (Get*), never an action
        like SystemReboot."""
        return all(read.operation.startswith("Get") for read in self.reads)


def _expect(table: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise MappingError(f"{where}: must be a table")
    unknown = set(table) - required - optional
    if unknown:
        known = ", ".join(sorted(required | optional))
        raise MappingError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})")
    missing = required - set(table)
    if missing:
        raise MappingError(f"{where}: missing key {sorted(missing)[0]!r}")
    return table


def _string(table: dict[str, Any], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise MappingError(f"{where}.{key}: must be a non-empty string")
    return value


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise MappingError(f"{where}.{key}: must be a list of strings")
    return tuple(value)


def _steps(element: Any, path: tuple[str, ...], where: str) -> list[Any]:
    """The nodes along path through zeep's element types (attributes as last part), naming a
    wrong part."""
    nodes, current = [], element
    for depth, part in enumerate(path):
        children = dict(getattr(current.type, "elements", []))
        attributes = dict(getattr(current.type, "attributes", []))
        if part in children:
            current = children[part]
        elif part in attributes and depth == len(path) - 1:
            current = attributes[part]
        else:
            known = ", ".join(list(children) + list(attributes)) or "nothing"
            raise MappingError(
                f"{where}: {part!r} (part {depth + 1} of {'.'.join(path)!r}) is not an element "
                f"or attribute of {current.name} (it has: {known})"
            )
        nodes.append(current)
    return nodes


def _walk(element: Any, path: tuple[str, ...], where: str) -> Any:
    """Walk path through zeep's element types (attributes as last part), naming a wrong part."""
    return _steps(element, path, where)[-1] if path else element


def _walk_optional(element: Any, path: tuple[str, ...], where: str) -> tuple[Any, bool]:
    """The node at path, and whether any element or attribute on the way may be absent."""
    nodes = _steps(element, path, where)
    optional = any(not node.required if isinstance(node, Attribute)
                   else node.min_occurs == 0 or bool(node.nillable) for node in nodes)
    return (nodes[-1] if nodes else element), optional


def _enum_ref(table: dict[str, Any], enums: dict[str, Enum], where: str) -> Enum | None:
    if "enum" not in table:
        return None
    name = _string(table, "enum", where)
    if name not in enums:
        raise MappingError(f"{where}.enum: no enum {name!r} in [enums]")
    return enums[name]


def _kind(table: dict[str, Any], key: str, wsdls: Wsdls, where: str) -> str:
    """A configuration kind (VideoSource, AudioEncoder, ...), as Media2 names it."""
    kind = _string(table, key, where)
    kinds = [k for k in wsdls.enumerations.get(KINDS, ()) if k != "All"]
    if kind not in kinds:
        raise MappingError(f"{where}.{key}: {kind!r} is not a configuration kind (one of: "
                           f"{', '.join(kinds)})")
    return kind


FIELD_SOURCES = ("element", "policy", "derive", "value", "present", "item", "exists", "param",
                 "absent")


def _uri_options(spec: dict[str, Any], parameters: dict[str, Parameter],
                 where: str) -> dict[str, Any]:
    """A URI or time element's options (host, userinfo, expires), checked."""
    options: dict[str, Any] = {}
    if "host" in spec:
        host = _string(spec, "host", where)
        if host not in URI_HOSTS:
            raise MappingError(f"{where}.host: one of {', '.join(sorted(URI_HOSTS))}")
        options["host"] = host
    if "userinfo" in spec:
        table = _expect(spec["userinfo"], f"{where}.userinfo", {"param"}, set())
        name = _string(table, "param", f"{where}.userinfo")
        if name not in parameters or parameters[name].type != "boolean":
            raise MappingError(f"{where}.userinfo.param: no boolean parameter {name!r} in "
                               "[parameters]")
        options["userinfo"] = name
    if "expires" in spec:
        if spec["expires"] is not True:
            raise MappingError(f"{where}.expires: only `expires = true`")
        options["expires"] = True
    return options


def _element_paths(spec: dict[str, Any], key: str, where: str, meaning: str
                   ) -> list[tuple[str, ...]]:
    """spec[key]: an element path ("a.b") or a non-empty list of them, each split at its dots."""
    given = spec[key]
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(
            isinstance(t, str) and t for t in texts):
        raise MappingError(f"{where}.{key}: an element path, or a list of them ({meaning})")
    return [tuple(text.split(".")) for text in texts]


def _field(spec: Any, item: Any, has_present: bool, enums: dict[str, Enum], wsdls: Wsdls,
           parameters: dict[str, Parameter], where: str, fan_out: bool = False,
           replies: dict[str, Any] | None = None) -> Field:
    if isinstance(spec, str):
        spec = {"element": spec}
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: must be an element path (a string) or a table")
    spec = _expect(spec, where, set(), {*FIELD_SOURCES, "enum", "of", "host", "userinfo",
                                        "expires", "from", "missing"})
    sources = [k for k in FIELD_SOURCES if k in spec]
    if len(sources) != 1:
        raise MappingError(f"{where}: give exactly one of {', '.join(FIELD_SOURCES)}")
    if {"host", "userinfo", "expires"} & set(spec) and "element" not in spec:
        raise MappingError(f"{where}: host, userinfo and expires go with an element")
    enum = _enum_ref(spec, enums, where)
    if "item" in spec:
        if not fan_out:
            raise MappingError(f"{where}.item: only in a read with for_each")
        return Field(item=_string(_expect(spec, where, {"item"}, set()), "item", where))
    if "from" in spec and not {"element", "exists"} & set(spec):
        raise MappingError(f"{where}.from: goes with element or exists")
    if "missing" in spec:
        _expect(spec, where, {"value", "missing"}, set())
        call = _string(spec, "missing", where)
        if call not in (replies or {}):
            raise MappingError(f"{where}.missing: no call {call!r} in calls (known: "
                               f"{', '.join(replies or {}) or 'none'})")
        return Field(value=spec["value"], missing=call)
    source = _string(spec, "from", where) if "from" in spec else None
    if source is not None and source not in (replies or {}):
        raise MappingError(f"{where}.from: no call {source!r} in calls (known: "
                           f"{', '.join(replies or {}) or 'none'})")
    answer = (replies or {})[source] if source else item  # where the element is
    if "element" in spec:
        paths = _element_paths(spec, "element", where, "the first present answers")
        node, optional = _walk_optional(answer, paths[0], where if len(paths) == 1
                                        else f"{where}.element[0]")
        for i, path in enumerate(paths[1:], start=1):
            _walk(answer, path, f"{where}.element[{i}]")
        kind = "object" if isinstance(node.type, ComplexType) else xsd_json_type(node.type)
        repeated = getattr(node, "max_occurs", 1) not in (None, 1)  # "unbounded" or above 1
        return Field(path=paths[0], enum=enum, type=kind, optional=optional or len(paths) > 1,
                     alternatives=tuple(paths[1:]), source=source, repeated=repeated,
                     **_uri_options(spec, parameters, where))
    if "exists" in spec:
        looked_for = tuple(_element_paths(spec, "exists", where, "true when any is there"))
        for i, path in enumerate(looked_for):
            _walk(answer, path, f"{where}.exists" + (f"[{i}]" if len(looked_for) > 1 else ""))
        return Field(exists=looked_for, source=source)
    if "param" in spec:
        name = _string(spec, "param", where)
        if name not in parameters:
            raise MappingError(f"{where}.param: no parameter {name!r} in [parameters]")
        return Field(param=name)
    if "absent" in spec:
        if spec["absent"] is not True:
            raise MappingError(f"{where}.absent: only `absent = true`")
        return Field(absent=True)
    if "policy" in spec:
        return Field(policy=_string(spec, "policy", where))
    if "derive" in spec:
        derive = _string(spec, "derive", where)
        if derive not in DERIVED:
            raise MappingError(f"{where}.derive: unknown {derive!r} (known: {sorted(DERIVED)})")
        _expect(spec, where, {"derive", "of"}, set())
        return Field(derive=derive, of=_kind(spec, "of", wsdls, where))
    if "present" in spec:
        if spec["present"] is not True or not has_present:
            raise MappingError(f"{where}.present: only `present = true`, with get.present")
        return Field(present=True, enum=enum)
    return Field(value=spec["value"])


def _operation(table: dict[str, Any], wsdls: Wsdls, where: str) -> tuple[str, str, Any]:
    """The service, operation name and zeep operation a table names, checked."""
    service = _string(table, "service", where)
    if service not in SERVICES:
        raise MappingError(f"{where}.service: unknown service {service!r} "
                           f"(known: {', '.join(SERVICES)})")
    operation = _string(table, "operation", where)
    try:
        return service, operation, wsdls.binding(service).get(operation)
    except ValueError:
        raise MappingError(
            f"{where}.operation: {service} service has no operation {operation!r}"
        ) from None


def _params(parameters: dict[str, Parameter], enums: dict[str, Enum],
            fan_out: bool = False, replies: dict[str, Any] | None = None,
            fields: Lookup | None = None, shown: set[str] | None = None) -> Lookup:
    """Where a call's arguments come from: the resource's parameters (and a fan-out's item; an
    argument may translate its parameter by an enum of its own: the same JSON values, or fewer,
    a value it lacks being something this operation cannot do, 501); the replies of the calls
    made before it (`replies`: their output elements by name), sums; and, for an action, the
    body (`fields`), a sum of which may be clamped `within` two of the GET's fields (`shown`)."""

    def lookup(kind: str, table: dict[str, Any], where: str) -> Source:
        if kind == "field" and fields is not None:
            return fields(kind, table, where)
        if kind == "state" and shown is not None:  # (`when`: a field of the GET)
            name = _string(table, "state", where)
            if name not in shown:
                raise MappingError(f"{where}: {name!r} is not a field of the GET (it has: "
                                   f"{', '.join(sorted(shown))})")
            return Source("state", name, None)
        if kind == "reply" and replies is not None:
            table = _expect(table, where, {"reply", "element"}, set())
            name, element = _string(table, "reply", where), _string(table, "element", where)
            if name not in replies:
                raise MappingError(f"{where}.reply: no call {name!r} before this one (known: "
                                   f"{', '.join(replies) or 'none'})")
            path = tuple(element.split("."))
            node = _walk(replies[name], path, f"{where}.element")
            return Source("reply", name, xsd_json_type(node.type), path=path)
        if kind == "sum":
            table = _expect(table, where, {"sum"}, {"within"} if shown is not None else set())
            parts = table["sum"]
            if not isinstance(parts, list) or len(parts) < 2 or not all(
                    isinstance(part, dict) for part in parts):
                raise MappingError(f"{where}.sum: a list of two or more values to add")
            found = tuple(lookup(next((k for k in SOURCES if k in part), "?"), part,
                                 f"{where}.sum[{i}]") for i, part in enumerate(parts))
            if any(part.type not in (None, "integer", "number") for part in found):
                raise MappingError(f"{where}.sum: only numbers add up")
            if "within" not in table:
                return Source("sum", "sum", "number", parts=found)
            bounds = table["within"]
            if not isinstance(bounds, list) or len(bounds) != 2 or not all(
                    isinstance(b, str) and b in (shown or ()) for b in bounds):
                raise MappingError(f"{where}.within: [min, max], two fields of the GET (it has: "
                                   f"{', '.join(sorted(shown or ()))})")
            named = [part.name for part in found if part.kind == "field"]
            if len(named) != 1:
                raise MappingError(f"{where}.within: the sum adds one body field (the one the "
                                   "answer names as clamped)")
            return Source("sum", named[0], "number", parts=found, within=(bounds[0], bounds[1]))
        table = _expect(table, where, {kind}, {"enum"} if kind == "param" else set())
        name = _string(table, kind, where)
        if kind == "item" and fan_out:
            return Source("item", name, None)  # checked against the other resource once loaded
        if kind != "param":
            raise MappingError(f"{where}: a read takes arguments from `param`"
                               + (", `item`" if fan_out else "")
                               + (", `reply`, `sum`" if replies else "") + " (or constants)")
        if name not in parameters:
            raise MappingError(f"{where}.param: no parameter {name!r} in [parameters]")
        source = parameters[name].source()
        enum = _enum_ref(table, enums, where)
        if enum is not None:
            own = parameters[name].enum
            allowed = own.json_values if own is not None else None
            if enum.json_type != source.type or (
                    allowed is not None and not set(enum.json_values) <= set(allowed)):
                raise MappingError(f"{where}.enum: {enum.name}'s values are not values of "
                                   f"parameter {name!r}")
            source = replace(source, enum=enum)
        return source

    return lookup


def _calls(table: Any, parameters: dict[str, Parameter], enums: dict[str, Enum], wsdls: Wsdls,
           where: str, fields: Lookup | None = None) -> tuple[tuple[Call, ...], dict[str, Any]]:
    """`calls`: named calls made in order, each with arguments from the ones before it; and
    the output element of each, by name."""
    if not isinstance(table, dict):
        raise MappingError(f"{where}: a table of name = {{ service, operation, arguments }}")
    calls: list[Call] = []
    replies: dict[str, Any] = {}
    optionals: set[str] = set()
    for name, spec in table.items():
        # a reply that may be missing feeds fields (null then), never later arguments
        usable = {n: r for n, r in replies.items() if n not in optionals}
        call, replies[name] = _named_call(name, spec, _params(parameters, enums, False, usable,
                                                              fields), wsdls, f"{where}.{name}")
        calls.append(call)
        if call.may_be_missing:
            optionals.add(name)
    return tuple(calls), replies


def _named_call(name: str, spec: Any, lookup: Lookup, wsdls: Wsdls,
                where: str) -> tuple[Call, Any]:
    """One named call (and its `else`), and its output element."""
    spec = _expect(spec, where, {"service", "operation"},
                   {"arguments", "optional", "else", "match"})
    service, operation, op = _operation(spec, wsdls, where)
    optional = spec.get("optional", False)
    if not isinstance(optional, bool):
        raise MappingError(f"{where}.optional: must be true or false")
    arguments = parse_arguments(spec.get("arguments", {}), op.input.body.type, lookup, wsdls,
                                f"{where}.arguments")
    match = _match(spec["match"], op.output.body, lookup, f"{where}.match") \
        if "match" in spec else None
    otherwise = None
    if "else" in spec:
        if optional:
            raise MappingError(f"{where}.optional: not with `else` (say it of the call made "
                               "instead)")
        otherwise, other = _named_call(name, spec["else"], lookup, wsdls, f"{where}.else")
        _same_elements(op.output.body, other, f"{where}.else")
    return Call(name, service, operation, arguments, optional, otherwise, match), op.output.body


def _same_elements(output: Any, other: Any, where: str) -> None:
    """The call made instead answers every element of the first's answer, of the same type."""
    theirs = dict(other.type.elements)
    for name, element in output.type.elements:
        found = theirs.get(name)
        if found is None or found.type.qname != element.type.qname:
            raise MappingError(f"{where}: its answer has no {name} of type "
                               f"{_type_label(element)}, as the answer it stands in for has")


def _type_label(element: Any) -> str:
    qname = getattr(element.type, "qname", None)
    return str(getattr(qname, "localname", None) or type(element.type).__name__)


def _match(table: Any, output: Any, lookup: Lookup, where: str) -> Match:
    """`match = { "A.key" = { reply = ..., element = ... } }` (or `{ param = ... }`)."""
    if not isinstance(table, dict) or len(table) != 1:
        raise MappingError(f"{where}: one `\"Entry.key\" = value`: the entries of a repeated "
                           "element whose key has that value")
    (dotted, value), = table.items()
    path = tuple(dotted.split("."))
    at = f"{where}.{dotted}"
    if len(path) < 2:
        raise MappingError(f'{at}: "Entry.key": a key of the entries of a repeated element')
    if getattr(_walk(output, path[:-1], at), "max_occurs", 1) in (None, 1):
        raise MappingError(f"{at}: {'.'.join(path[:-1])} is not a repeated element")
    _walk(output, path, at)
    kind = next((k for k in ("reply", "param") if isinstance(value, dict) and k in value), None)
    if kind is None:
        raise MappingError(f"{at}: {{ reply = ..., element = ... }} or {{ param = ... }}")
    return Match(path[:-1], path[-1], lookup(kind, value, at))


def _read(table: Any, enums: dict[str, Enum], parameters: dict[str, Parameter], wsdls: Wsdls,
          where: str) -> Read:
    table = _expect(table, where, {"service", "operation", "fields"},
                    {"arguments", "list", "items", "present", "fallback", "for_each", "calls",
                     "optional"})
    service, operation, op = _operation(table, wsdls, where)
    optional = table.get("optional", False)
    if not isinstance(optional, bool):
        raise MappingError(f"{where}.optional: must be true or false")
    if optional and ("list" in table or "for_each" in table):
        raise MappingError(f"{where}.optional: only on a read of one object")
    for_each = _string(table, "for_each", where) if "for_each" in table else None
    if for_each is not None and "calls" in table:
        raise MappingError(f"{where}.calls: not with for_each")
    calls, replies = _calls(table.get("calls", {}), parameters, enums, wsdls, f"{where}.calls")
    if optional:  # its own reply is named after the operation, for `missing`
        if operation in replies:
            raise MappingError(f"{where}.calls.{operation}: the name of the read's own reply")
        replies = {**replies, operation: op.output.body}
    inputs = parse_arguments(table.get("arguments", {}), op.input.body.type,
                             _params(parameters, enums, for_each is not None, replies), wsdls,
                             f"{where}.arguments")

    item = op.output.body
    items: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    if for_each is not None:
        # one entry per item of the other resource, from the whole answer of its call
        if "list" not in table or "items" in table or "present" in table:
            raise MappingError(f"{where}.for_each: goes with `list` (not items or present)")
    elif ("items" in table or "present" in table) != ("list" in table):
        raise MappingError(f"{where}: `list` goes with `items` (or `present`)")
    if "items" in table:
        items = tuple(_string(table, "items", where).split("."))
        item = _walk(item, items, f"{where}.items")
        if "present" in table:
            present = _strings(table, "present", where)
            for name in present:
                _walk(item, (name,), f"{where}.present")
        elif item.max_occurs == 1:
            raise MappingError(f"{where}.items: {'.'.join(items)} is not a repeated element")
    fields_table = table["fields"]
    if not isinstance(fields_table, dict) or not fields_table:
        raise MappingError(f"{where}.fields: must be a table of JSON field = source")
    fields = {
        name: _field(spec, item, bool(present), enums, wsdls, parameters,
                     f"{where}.fields.{name}", for_each is not None, replies)
        for name, spec in fields_table.items()
    }
    # a field from a call that may end without a reply may be null, whatever its element
    missing = {step.name for step in calls if step.may_be_missing} | (
        {operation} if optional else set())
    for name, spec in fields.items():
        if spec.missing is not None and spec.missing not in missing:
            raise MappingError(f"{where}.fields.{name}.missing: call {spec.missing!r} always "
                               "has a reply (it has no optional, else or match)")
    fields = {name: replace(spec, optional=True)
              if spec.source in missing or (optional and spec.source is None
                                            and spec.from_device) else spec
              for name, spec in fields.items()}
    list_key = _string(table, "list", where) if "list" in table else None
    fallback = table.get("fallback", False)
    if fallback not in (True, False) or (fallback and list_key is None):
        raise MappingError(f"{where}.fallback: only `fallback = true`, on a list read")
    return Read(service, operation, dict(inputs), fields, list_key, items, present, fallback,
                for_each, calls=calls, optional=optional)


def _write(table: Any, reads: tuple[Read, ...], enums: dict[str, Enum],
           parameters: dict[str, Parameter], wsdls: Wsdls, where: str) -> Write:
    if isinstance(table, dict) and table.get("write") == "action":
        return _action_write(table, reads, enums, parameters, wsdls, where)
    table = _expect(table, where, {"write", "body"},
                    {"service", "operation", "arguments", "of", "policy", "into", "match",
                     "change"})
    write = _string(table, "write", where)
    body = parse_body(table["body"], enums, f"{where}.body")
    if write == "policy":
        _expect(table, where, {"write", "body"}, set())
        flag = next((name for name, f in reads[0].fields.items() if f.policy), None)
        if flag is None or not reads[0].list:
            raise MappingError(f"{where}: a policy write needs a list GET with a policy field")
        if "name" not in reads[0].fields:
            raise MappingError(f"{where}: a policy write needs a `name` field to key it")
        _body_has(body, {reads[0].list: "array"}, f"{where}.body")
        entries = body.fields[reads[0].list].items
        assert entries is not None  # an array has items
        _body_has(entries, {"name": "string", flag: "integer"},
                  f"{where}.body.{reads[0].list}.items")
        return PolicyWrite(body)
    if write == "call":
        _expect(table, where, {"write", "body", "service", "operation", "arguments"}, set())
        service, operation, op = _operation(table, wsdls, where)
        params = _params(parameters, enums)

        def lookup(kind: str, spec: dict[str, Any], at: str) -> Source:
            if kind == "param":
                return params(kind, spec, at)
            json_field = _string(_expect(spec, at, {"field"}, set()), "field", at)
            declared = body.fields.get(json_field)
            if declared is None or declared.items is not None:
                raise MappingError(f"{at}.field: {where}.body has no field {json_field!r}")
            if json_field not in reads[0].fields:  # what the write is checked against
                raise MappingError(f"{at}.field: GET has no {json_field!r}")
            return Source("field", json_field, declared.type, declared.enum, declared.required)

        arguments = parse_arguments(table["arguments"], op.input.body.type, lookup, wsdls,
                                    f"{where}.arguments")
        unused = set(body.fields) - {s.name for s in sources(arguments) if s.kind == "field"}
        if unused:
            raise MappingError(f"{where}.body.{sorted(unused)[0]}: no argument takes it")
        return CallWrite(body, service, operation, arguments)
    if write == "configuration":
        return _configuration_write(table, body, reads, enums, wsdls, where)
    raise MappingError(f"{where}.write: unknown write {write!r} (known: {sorted(WRITES)})")


def _action_write(table: dict[str, Any], reads: tuple[Read, ...], enums: dict[str, Enum],
                  parameters: dict[str, Parameter], wsdls: Wsdls, where: str) -> ActionWrite:
    """[put] write = "action": a body, then the action, or `case` and one action per value."""
    if "case" in table:
        table = _expect(table, where, {"write", "body", "case", "cases"}, set())
    else:
        table = _expect(table, where, {"write", "body", "service", "operation"}, ACTION_KEYS)
    body = parse_body(table["body"], enums, f"{where}.body")
    shown = set(reads[0].fields)
    if "case" not in table:
        inline = {k: v for k, v in table.items() if k not in ("write", "body")}
        action = _action(inline, body, parameters, enums, shown, wsdls, where)
        return ActionWrite(body, None, {"": action})
    case = _string(table, "case", where)
    chooser = body.fields.get(case)
    if chooser is None or chooser.enum is None or not chooser.required:
        raise MappingError(f"{where}.case: a required body field with an enum")
    cases = table["cases"]
    values = [str(v) for v in chooser.enum.json_values]
    if not isinstance(cases, dict) or sorted(cases) != sorted(values):
        raise MappingError(f"{where}.cases: one action for each of {', '.join(values)}")
    return ActionWrite(body, case, {
        name: _action(spec, body, parameters, enums, shown, wsdls, f"{where}.cases.{name}")
        for name, spec in cases.items()})


def _action(table: Any, body: Body, parameters: dict[str, Parameter], enums: dict[str, Enum],
            shown: set[str],
            wsdls: Wsdls, where: str) -> Action:
    """One action: its calls, arguments (from parameters, replies and the body's fields), and
    what is checked before and after it."""
    spec = _expect(table, where, {"service", "operation"}, ACTION_KEYS)
    required = _strings(spec, "required", where) if "required" in spec else ()
    for name in required:
        if name not in body.fields:
            raise MappingError(f"{where}.required: the body has no field {name!r}")
    groups = spec.get("together", [])
    if not isinstance(groups, list) or not all(
            isinstance(g, list) and len(g) > 1 and all(isinstance(n, str) for n in g)
            for g in groups):
        raise MappingError(f"{where}.together: a list of lists of body fields (given all or none)")
    together = tuple(tuple(group) for group in groups)
    for name in (n for group in together for n in group):
        if name not in body.fields:
            raise MappingError(f"{where}.together: the body has no field {name!r}")

    replies: dict[str, Any] = {}  # of this action's calls, once parsed

    def field_of(kind: str, entry: dict[str, Any], at: str) -> Source:
        entry = _expect(entry, at, {"field"}, {"default"})
        name = _string(entry, "field", at)
        declared = body.fields.get(name)
        if declared is None or declared.items is not None:
            raise MappingError(f"{at}.field: the body has no field {name!r}")
        default = entry.get("default")
        if isinstance(default, dict):  # the value the device holds now, say
            default = _params(parameters, enums, False, replies)("reply", default, f"{at}.default")
        elif default is not None and not is_json_type(default, declared.type):
            raise MappingError(f"{at}.default: {default!r} is not a {declared.type}")
        # (a field given together with others is there wherever the element needing it is
        # sent: that element is `given` them)
        return Source("field", name, declared.type, declared.enum,
                      declared.required or default is not None or name in required
                      or any(name in group for group in together), default=default)

    service, operation, op = _operation(spec, wsdls, where)
    calls, found = _calls(spec.get("calls", {}), parameters, enums, wsdls, f"{where}.calls",
                          field_of)
    replies.update(found)
    arguments = parse_arguments(spec.get("arguments", {}), op.input.body.type,
                                _params(parameters, enums, False, replies, field_of, shown),
                                wsdls, f"{where}.arguments")

    def shown_field(value: Any, at: str) -> str:
        if not isinstance(value, str) or value not in shown:
            raise MappingError(f"{at}: {value!r} is not a field of the GET (it has: "
                               f"{', '.join(sorted(shown))})")
        return value

    ranges: dict[str, Range] = {}
    for name, limits in _expect(spec.get("ranges", {}), f"{where}.ranges", set(),
                                set(body.fields)).items():
        at = f"{where}.ranges.{name}"
        limits = _expect(limits, at, set(), {"min", "max", "one_of"})
        if not limits or ("one_of" in limits and len(limits) > 1):
            raise MappingError(f"{at}: give min and/or max, or one_of")
        ranges[name] = Range(**{key: shown_field(value, f"{at}.{key}")
                                for key, value in limits.items()})
    supported = {name: shown_field(value, f"{where}.supported.{name}")
                 for name, value in _expect(spec.get("supported", {}), f"{where}.supported",
                                            set(), set(body.fields)).items()}
    verify = {name: shown_field(value, f"{where}.verify.{name}")
              for name, value in _expect(spec.get("verify", {}), f"{where}.verify", set(),
                                         set(body.fields)).items()}
    wait_while = {}
    for name, value in _expect(spec.get("wait_while", {}), f"{where}.wait_while", set(),
                               shown).items():
        if not isinstance(value, str | int | float | bool):
            raise MappingError(f"{where}.wait_while.{name}: a value the GET field may show")
        wait_while[name] = value
    otherwise = (_action(spec["else"], body, parameters, enums, shown, wsdls,
                         f"{where}.else")
                 if "else" in spec else None)
    note = _string(spec, "note", where) if "note" in spec else ""
    lease = None
    if "lease" in spec:
        at = f"{where}.lease"
        lease_table = _expect(spec["lease"], at, {"field", "stop"}, set())
        name = _string(lease_table, "field", at)
        declared = body.fields.get(name)
        if declared is None or declared.type != "integer" or declared.required:
            raise MappingError(f"{at}.field: an optional integer field of the body "
                               "(milliseconds)")
        stop = _action(lease_table["stop"], Body({}), parameters, enums, shown, wsdls,
                       f"{at}.stop")
        lease = Lease(name, stop)
    takes = {source.name for source in sources([arguments, *(c.arguments for c in calls)])
             if source.kind == "field"}
    takes |= {*required, *(name for group in together for name in group), *ranges, *supported,
              *verify, *(otherwise.takes if otherwise is not None else ()),
              *((lease.field,) if lease is not None else ())}
    return Action(service, operation, arguments, calls, required,
                  needs_one_of(arguments, op.input.body.type), frozenset(takes), together,
                  supported, ranges, verify, wait_while, otherwise, note, lease)


def _configuration_write(table: dict[str, Any], body: Body, reads: tuple[Read, ...],
                         enums: dict[str, Enum], wsdls: Wsdls, where: str) -> ConfigurationWrite:
    """write = "configuration": every kind the same way, from what the file says of it."""
    _expect(table, where, {"write", "body", "of"}, {"into", "policy", "match", "change"})
    of = _kind(table, "of", wsdls, where)
    into = _kind(table, "into", wsdls, where) if "into" in table else None
    fields = reads[0].fields
    media1 = [r for r in reads if r.service == "media"]
    if media1:  # Media1 names a kind's slot operations after it: they must exist
        for operation in (f"Add{media1_slot(of)}", f"Remove{media1_slot(of)}"):
            _operation({"service": "media", "operation": operation}, wsdls, f"{where}.of")
    policy = None
    if "policy" in table:
        spec = _expect(table["policy"], f"{where}.policy", {"field", "table"}, {"enum"})
        policy_field = _string(spec, "field", f"{where}.policy")
        if policy_field not in fields:
            raise MappingError(f"{where}.policy.field: GET has no field {policy_field!r}")
        policy = Policy(policy_field, _string(spec, "table", f"{where}.policy"),
                        _enum_ref(spec, enums, f"{where}.policy"))
    match = _expect(table.get("match", {}), f"{where}.match", set(), set(table.get("match", {})))
    for name in match:
        element = _string(match, name, f"{where}.match")
        for i, read in enumerate(reads):
            _walk(_items_node(read, wsdls), (element,), f"{where}.match.{name} (get[{i}])")
    change = None
    if "change" in table:
        spec = _expect(table["change"], f"{where}.change", {"field", "options", "set"},
                       {"reset"})
        at = f"{where}.change"
        options, setter = _string(spec, "options", at), _string(spec, "set", at)
        persist = set()
        for read in reads:
            _operation({"service": read.service, "operation": options}, wsdls, at)
            _, _, op = _operation({"service": read.service, "operation": setter}, wsdls, at)
            if "ForcePersistence" in dict(op.input.body.type.elements):
                persist.add(read.service)
        change = Change(_string(spec, "field", at), options, setter,
                        _strings(spec, "reset", at) if "reset" in spec else (),
                        frozenset(persist))
        if change.field not in fields or any(len(r.fields[change.field].path) != 1
                                             for r in reads):
            raise MappingError(f"{at}.field: GET has no field {change.field!r} of one element")
    wanted = {"c_name": "string", "action": "string"} | {name: "string" for name in match}
    wanted |= {p.field: "string" for p in (policy,) if p} | (
        {change.field: "string"} if change else {})
    # The change's field may be optional (left out: the configuration keeps its value), unless
    # the policy needs it too.
    optional = {change.field} - {p.field for p in (policy,) if p} if change else set()
    _body_has(body, wanted, f"{where}.body", optional)
    action = body.fields["action"].enum
    if action is None or sorted(action.json_values) != sorted(ACTIONS):
        raise MappingError(f"{where}.body.action: the enum of {', '.join(ACTIONS)}")
    return ConfigurationWrite(body, of, into, policy, match, change)


def _items_node(read: Read, wsdls: Wsdls) -> Any:
    """The zeep element of a read's items (the configurations of a configuration read)."""
    output = wsdls.binding(read.service).get(read.operation).output.body
    return _walk(output, read.items, "get.items")


def _body_has(body: Body, fields: dict[str, str], where: str,
              optional: set[str] | frozenset[str] = frozenset()) -> None:
    """A write's code relies on these body fields, of these types, and no others; those of
    `optional` may be left out."""
    if set(body.fields) != set(fields):
        raise MappingError(f"{where}: this write takes the fields {', '.join(fields)}")
    for name, kind in fields.items():
        if body.fields[name].type != kind or not (body.fields[name].required
                                                  or name in optional):
            raise MappingError(f"{where}.{name}: a required {kind}")


def parse_mapping(name: str, data: dict[str, Any], wsdls: Wsdls,
                  shared: dict[str, Enum] | None = None) -> Resource:
    """Check one mapping file's data against the WSDLs and build its Resource; `shared` are the
    enums of enums.toml."""
    _expect(data, name, {"path", "title", "get"},
            {"methods", "level", "put", "enums", "parameters", "guard"})
    level = _string(data, "level", name) if "level" in data else READ
    if level not in LEVELS:
        raise MappingError(f"level: one of {', '.join(LEVELS)}")
    path = _string(data, "path", name)
    if not path.startswith("/") or path.startswith("/devices"):
        raise MappingError(f"{name}.path: must start with '/' and not with '/devices'")
    methods = _strings(data, "methods", name) if "methods" in data else ("GET",)
    if not set(methods) <= {"GET", "POST"}:
        raise MappingError(f"{name}.methods: GET and/or POST (PUT is the [put] table)")
    enums = dict(shared or {})
    for enum_name, rows in _expect(data.get("enums", {}), "enums", set(),
                                   set(data.get("enums", {}))).items():
        if enum_name in enums:
            raise MappingError(f"enums.{enum_name}: already in {SHARED_ENUMS}")
        enums[enum_name] = parse_enum(enum_name, rows, f"enums.{enum_name}")
    parameters = _parameters(data.get("parameters", {}), path, enums)
    gets = data["get"] if isinstance(data["get"], list) else [data["get"]]
    reads = tuple(
        _read(table, enums, parameters, wsdls, f"get[{i}]" if len(gets) > 1 else "get")
        for i, table in enumerate(gets)
    )
    shapes = {(r.list, tuple(r.fields)) for r in reads}
    if len(shapes) > 1:
        raise MappingError("get: alternatives must give the same JSON (same list and fields)")
    fallbacks = tuple(r for r in reads if r.fallback)
    reads = tuple(r for r in reads if not r.fallback)
    if not reads:
        raise MappingError("get: a fallback needs a read before it")
    put = _write(data["put"], reads, enums, parameters, wsdls, "put") if "put" in data else None
    if put is not None and "PUT" in methods:
        raise MappingError("methods: PUT is the [put] table")
    guard = _guard(data["guard"], parameters, enums) if "guard" in data else None
    return Resource(name, path, _string(data, "title", name), tuple(methods), level, reads, put,
                    fallbacks=fallbacks, parameters=parameters, guard=guard)


def _guard(table: Any, parameters: dict[str, Parameter], enums: dict[str, Enum]) -> Guard:
    """[guard]: the profile of a path parameter, checked against two policy tables."""
    table = _expect(table, "guard", {"profile", "video_source", "video_encoder"}, set())
    profile = _expect(table["profile"], "guard.profile", {"param"}, set())
    name = _string(profile, "param", "guard.profile")
    if name not in parameters or parameters[name].where != "path":
        raise MappingError(f"guard.profile.param: no path parameter {name!r} in [parameters]")
    source = _expect(table["video_source"], "guard.video_source", {"policy"}, set())
    encoder = _expect(table["video_encoder"], "guard.video_encoder", {"policy", "enum"}, set())
    enum = _enum_ref(encoder, enums, "guard.video_encoder")
    assert enum is not None  # a required key
    return Guard(name, _string(source, "policy", "guard.video_source"),
                 _string(encoder, "policy", "guard.video_encoder"), enum)


def _parameters(table: Any, path: str, enums: dict[str, Enum]) -> dict[str, Parameter]:
    """[parameters]: each {name} of the path, and the query parameters, declared and typed."""
    table = _expect(table, "parameters", set(), set(table) if isinstance(table, dict) else set())
    in_path = PATH_PARAMETER.findall(path)
    parameters: dict[str, Parameter] = {}
    for name, spec in table.items():
        where = f"parameters.{name}"
        if not PARAMETER_NAME.fullmatch(name) or name == "device_id":
            raise MappingError(f"{where}: a parameter name is lower case letters, digits and _ "
                               "(and not device_id)")
        spec = _expect(spec, where, {"in"},
                       {"type", "enum", "required", "default", "description", "example"})
        location = _string(spec, "in", where)
        if location not in ("path", "query"):
            raise MappingError(f"{where}.in: path or query")
        if (location == "path") != (name in in_path):
            raise MappingError(f"{where}: " + (f"the path has no {{{name}}}" if location == "path"
                                               else f"{{{name}}} in the path is a path parameter"))
        if location == "path" and {"required", "default"} & set(spec):
            raise MappingError(f"{where}: a path parameter is always there (no required, default)")
        enum = _enum_ref(spec, enums, where)
        kind = _string(spec, "type", where) if "type" in spec else (
            enum.json_type if enum else "string")
        if kind not in JSON_TYPES:
            raise MappingError(f"{where}.type: one of {', '.join(JSON_TYPES)}")
        if enum is not None and enum.json_type != kind:
            raise MappingError(f"{where}.enum: {enum.name}'s values are not {kind}s")
        required = spec.get("required", location == "path")
        if not isinstance(required, bool):
            raise MappingError(f"{where}.required: true or false")
        default = spec.get("default")
        for key in ("default", "example"):
            if key in spec and not (is_json_type(spec[key], kind)
                                    and (enum is None or spec[key] in enum.json_values)):
                raise MappingError(f"{where}.{key}: {spec[key]!r} is not a valid {kind}"
                                   + (f" of {enum.name}" if enum else ""))
        if required and default is not None:
            raise MappingError(f"{where}: a required parameter has no default")
        description = _string(spec, "description", where) if "description" in spec else ""
        parameters[name] = Parameter(name, location, kind, enum, required, default,
                                     description, spec.get("example"))
    for name in in_path:
        if name not in parameters:
            raise MappingError(f"path: declare {{{name}}} in [parameters] ({name} = "
                               '{ in = "path" })')
    return parameters


def checked_query(query: Collection[tuple[str, str]], known: Sequence[str]) -> dict[str, str]:
    """A request's query parameters, each one of `known` and given once, else a 400 naming it:
    the check of every route's query (a mapped resource's, and the gateway's own routes')."""
    given: dict[str, str] = {}
    for key, text in query:
        if key not in known:
            raise BadRequest(f"unknown query parameter {quoted(key)} (known: "
                             f"{', '.join(known) or 'none'})", field=f"query.{shortened(key)}")
        if key in given:
            raise BadRequest(f"query parameter {quoted(key)} is given twice",
                             field=f"query.{shortened(key)}")
        given[key] = text
    return given


def parameter_values(resource: Resource, path: Mapping[str, str],
                     query: Collection[tuple[str, str]]) -> dict[str, Any]:
    """A request's parameters, typed: a bad path parameter is 404 (no such resource), a bad,
    missing, repeated or unknown query parameter 400, each naming the parameter."""
    if not resource.parameters and not query:  # most resources, most requests
        return {}
    values: dict[str, Any] = {}
    given = checked_query(query, [p.name for p in resource.parameters.values()
                                  if p.where == "query"]) if query else {}
    given.update({k: v for k, v in path.items() if k in resource.parameters})
    for name, parameter in resource.parameters.items():
        if name not in given:
            if parameter.required:
                raise BadRequest(f"missing query parameter {name!r}", field=parameter.field)
            values[name] = parameter.default
            continue
        error = NotFound if parameter.where == "path" else BadRequest
        try:
            value = from_text(given[name], parameter.type)
        except ValueError:
            why = (f"must be a {parameter.type}" if xml_text(given[name])
                   else "holds characters no SOAP message can carry")
            raise error(f"{parameter.where} parameter {name!r} {why}, not {quoted(given[name])}",
                        field=parameter.field) from None
        if parameter.enum is not None and value not in parameter.enum.json_values:
            raise error(f"{parameter.where} parameter {name!r} must be one of "
                        f"{parameter.enum.json_values}, not {quoted(given[name])}",
                        field=parameter.field)
        values[name] = value
    return values


def _shared_enums(file: Path) -> dict[str, Enum]:
    """The enums of a mappings folder's enums.toml (none if it has none)."""
    if not file.is_file():
        return {}
    data = _expect(tomllib.loads(file.read_text(encoding="utf-8")), file.name, {"enums"}, set())
    table = _expect(data["enums"], "enums", set(), set(data["enums"]))
    return {name: parse_enum(name, rows, f"enums.{name}") for name, rows in table.items()}


def _shared_get(data: dict[str, Any], gets: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """A mapping file's data, where `get = "/profiles/{token}/ptz"` shares the [get] of the file
    mapping that path (and its enums): a path that only acts (PUT) answers with another
    resource's state."""
    path = data.get("get")
    if not isinstance(path, str):
        return data
    other = gets.get(path)
    if other is None or path == data.get("path"):
        raise MappingError(f"get: no other mapping file with a [get] of its own maps {path!r}")
    enums = dict(other.get("enums", {}))
    for enum, rows in data.get("enums", {}).items():
        if enums.setdefault(enum, rows) != rows:
            raise MappingError(f"enums.{enum}: the file of {path} has another enum of that name")
    return {**data, "get": other["get"], **({"enums": enums} if enums else {})}


def load_mappings(directory: Path, wsdls: Wsdls) -> list[Resource]:
    """Load and check every *.toml file of a mappings folder (enums.toml: the shared enums)."""
    resources: list[Resource] = []
    shared: dict[str, Enum] = {}
    files = sorted(f for f in directory.glob("*.toml") if f.name != SHARED_ENUMS)
    raw: dict[Path, dict[str, Any]] = {}
    for file in [directory / SHARED_ENUMS, *files]:
        try:
            if file.name == SHARED_ENUMS:
                shared = _shared_enums(file)
            else:
                raw[file] = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, MappingError) as exc:
            raise MappingError(f"{file}: {exc}") from None
    gets = {data.get("path"): data for data in raw.values() if not isinstance(data.get("get"), str)}
    for file, data in raw.items():
        try:
            resources.append(parse_mapping(file.stem, _shared_get(data, gets), wsdls, shared))
        except MappingError as exc:
            raise MappingError(f"{file}: {exc}") from None
    if not resources:
        raise MappingError(f"{directory}: no mapping files (*.toml)")
    paths = [r.path for r in resources]
    duplicates = {p for p in paths if paths.count(p) > 1}
    if duplicates:
        raise MappingError(f"{directory}: more than one file maps {sorted(duplicates)[0]}")
    by_path = {r.path: r for r in resources}
    linked = []
    for resource in resources:
        try:
            linked.append(_link(resource, by_path))
        except MappingError as exc:
            raise MappingError(f"{directory / resource.name}.toml: {exc}") from None
    return linked


def _link(resource: Resource, by_path: dict[str, Resource]) -> Resource:
    """A fan-out read with the resource it goes over, checked: a list without parameters,
    itself no fan-out, having every field the read takes from its items."""
    if all(read.for_each is None for read in resource.reads + resource.fallbacks):
        return resource  # the very object fan-outs over it are linked to
    reads = []
    for i, read in enumerate(resource.reads + resource.fallbacks):
        where = f"get[{i}]" if len(resource.reads + resource.fallbacks) > 1 else "get"
        if read.for_each is None:
            reads.append(read)
            continue
        over = by_path.get(read.for_each)
        if over is None:
            raise MappingError(f"{where}.for_each: no mapping file maps {read.for_each}")
        if (not over.reads[0].list or over.parameters
                or any(r.for_each for r in over.reads + over.fallbacks)):
            raise MappingError(f"{where}.for_each: {over.path} is not a list without parameters "
                               "or fan-out of its own")
        taken = [(f"fields.{n}.item", f.item) for n, f in read.fields.items() if f.item]
        taken += [("arguments", s.name) for s in sources(read.arguments) if s.kind == "item"]
        for at, name in taken:
            if name not in over.reads[0].fields:
                raise MappingError(f"{where}.{at}: {over.path} items have no field {name!r} "
                                   f"(they have: {', '.join(over.reads[0].fields)})")
        reads.append(replace(read, over=over))
    return replace(resource, reads=tuple(reads[:len(resource.reads)]),
                   fallbacks=tuple(reads[len(resource.reads):]))
