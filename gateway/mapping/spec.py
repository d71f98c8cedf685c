"""Mapping files: what a REST resource is in ONVIF terms, as plain data checked at start.

One TOML file per resource in mappings/. Its keys, all checked when the gateway starts:

    path = "/sources/video"        the REST path
    title = "Video sources"
    methods = ["GET", "POST"]      HTTP methods that run the read (default ["GET"])
    level = "Administrator"        the lowest ONVIF user level that may read (default "User");
                                   every PUT needs "Operator" (ONVIF's default access policy)

    [[get]]                        the read; several [[get]] are alternatives, the first whose
    service = "media"              service the device offers is used (device | media | media2)
    operation = "GetVideoSources"  an operation of that service's WSDL binding
    arguments = { Type = ["All"] } fixed arguments of the call (optional)
    fallback = true                only when the reads before it gave an empty list (a device
                                   whose options say nothing): asked in order, the first that
                                   gives entries answers (e.g. the encoder configurations)
    list = "sources"               answer {"sources": [item, ...]} ...
    items = "VideoSources"         ... one item per repeated response element at this path
    present = ["JPEG", "H264"]     ... or one item per listed child element present (`items` then
                                   names their parent)
    [get.fields]                   JSON field = where its value comes from:
    name = "token"                   an element or attribute path in the response (or item)
    e_name = { element = "Encoding", enum = "encoding" }   the same, translated by an enum
    enabled = { policy = "video-sources" }   gateway policy, keyed by the item's `name` (default 1)
    in_use = { derive = "in_use", of = "VideoSource" }      a named derived value
    kind = { present = true, enum = "codec" }               the name of a `present` element
    "status.code" = { value = 200 }                         a constant (dots nest JSON objects)

    [put]                          what PUT does: one of the named writes
    write = "policy"               store the body's enabled flags in the policy named by the GET
    write = "call"                 call an operation with arguments taken from the body:
    service/operation, [put.arguments] DiscoveryMode = { field = "enabled", enum = "discovery" }
    write = "configuration"        create/delete the use of a configuration (of = VideoSource or
                                   VideoEncoder); `policy` names the field checked against policy

    [enums]                        JSON value, the ONVIF value sent, then other values accepted
    discovery = [[1, "Discoverable"], [0, "NonDiscoverable"]]

A wrong key, service, operation, element, enum or policy stops start-up with the file and the
path inside it named.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.access import LEVELS, READ
from gateway.errors import MappingError
from gateway.soap.wsdl import SERVICES, Wsdls

DERIVED = {"in_use"}
CONFIGURATION_KINDS = {"VideoSource", "VideoEncoder"}
WRITES = {"policy", "call", "configuration"}
ACTIONS = ("create", "delete")


@dataclass(frozen=True)
class Enum:
    """A two-way table between JSON values and ONVIF values (with aliases devices answer with)."""

    name: str
    rows: tuple[tuple[Any, ...], ...]

    @property
    def json_values(self) -> list[Any]:
        return [row[0] for row in self.rows]

    def to_onvif(self, value: Any) -> Any:
        return next(row[1] for row in self.rows if row[0] == value)

    def to_json(self, value: Any) -> Any:
        """The JSON value of an ONVIF value, or raise KeyError."""
        for row in self.rows:
            if value in row[1:]:
                return row[0]
        raise KeyError(value)


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


@dataclass(frozen=True)
class Read:
    """One ONVIF call, and the JSON taken from its response."""

    service: str
    operation: str
    arguments: dict[str, Any]
    fields: dict[str, Field]
    list: str | None = None
    items: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    fallback: bool = False


@dataclass(frozen=True)
class Policy:
    """A body field whose value must be enabled in a policy table (through an enum, if given)."""

    field: str
    table: str
    enum: Enum | None = None


@dataclass(frozen=True)
class PolicyWrite:
    """PUT stores the body's enabled flags in the resource's policy table."""


@dataclass(frozen=True)
class CallWrite:
    """PUT calls an operation with arguments (ONVIF name in Field.path) from JSON fields."""

    service: str
    operation: str
    arguments: dict[str, Field]


@dataclass(frozen=True)
class ConfigurationWrite:
    """PUT creates or deletes the use of a configuration of kind `of` in gateway profiles."""

    of: str
    policy: Policy


Write = PolicyWrite | CallWrite | ConfigurationWrite


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
    # asked in order when the chosen read gives an empty list (`fallback = true` reads)
    fallbacks: tuple[Read, ...] = ()

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


def _walk(element: Any, path: tuple[str, ...], where: str) -> Any:
    """Walk path through zeep's element types (attributes as last part), naming a wrong part."""
    current = element
    for depth, part in enumerate(path):
        children = dict(getattr(current.type, "elements", []))
        attributes = dict(getattr(current.type, "attributes", []))
        if part in children:
            current = children[part]
        elif part in attributes and depth == len(path) - 1:
            return attributes[part]
        else:
            known = ", ".join(list(children) + list(attributes)) or "nothing"
            raise MappingError(
                f"{where}: {part!r} (part {depth + 1} of {'.'.join(path)!r}) is not an element "
                f"or attribute of {current.name} (it has: {known})"
            )
    return current


def _enum(name: str, rows: Any, where: str) -> Enum:
    if (
        not isinstance(rows, list) or not rows
        or not all(isinstance(r, list) and len(r) >= 2 for r in rows)
    ):
        raise MappingError(f"{where}: an enum is a list of [JSON value, ONVIF value, aliases...]")
    json_values = [row[0] for row in rows]
    if len(set(json_values)) != len(json_values):
        raise MappingError(f"{where}: a JSON value is listed twice")
    if len({type(v) for v in json_values}) != 1:
        raise MappingError(f"{where}: JSON values must all be of one type")
    return Enum(name, tuple(tuple(row) for row in rows))


def _enum_ref(table: dict[str, Any], enums: dict[str, Enum], where: str) -> Enum | None:
    if "enum" not in table:
        return None
    name = _string(table, "enum", where)
    if name not in enums:
        raise MappingError(f"{where}.enum: no enum {name!r} in [enums]")
    return enums[name]


def _field(spec: Any, item: Any, has_present: bool, enums: dict[str, Enum], where: str) -> Field:
    if isinstance(spec, str):
        spec = {"element": spec}
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: must be an element path (a string) or a table")
    spec = _expect(spec, where, set(),
                   {"element", "enum", "policy", "derive", "of", "value", "present"})
    sources = [k for k in ("element", "policy", "derive", "value", "present") if k in spec]
    if len(sources) != 1:
        raise MappingError(f"{where}: give exactly one of element, policy, derive, value, present")
    enum = _enum_ref(spec, enums, where)
    if "element" in spec:
        path = tuple(_string(spec, "element", where).split("."))
        _walk(item, path, where)
        return Field(path=path, enum=enum)
    if "policy" in spec:
        return Field(policy=_string(spec, "policy", where))
    if "derive" in spec:
        derive = _string(spec, "derive", where)
        if derive not in DERIVED:
            raise MappingError(f"{where}.derive: unknown {derive!r} (known: {sorted(DERIVED)})")
        of = _string(_expect(spec, where, {"derive", "of"}, set()), "of", where)
        if of not in CONFIGURATION_KINDS:
            raise MappingError(f"{where}.of: one of {sorted(CONFIGURATION_KINDS)}")
        return Field(derive=derive, of=of)
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


def _arguments(table: Any, op: Any, where: str) -> dict[str, Any]:
    """A table keyed by the operation's input elements (only those)."""
    return _expect(table, where, set(), {name for name, _ in op.input.body.type.elements})


def _read(table: Any, enums: dict[str, Enum], wsdls: Wsdls, where: str) -> Read:
    table = _expect(table, where, {"service", "operation", "fields"},
                    {"arguments", "list", "items", "present", "fallback"})
    service, operation, op = _operation(table, wsdls, where)
    inputs = _arguments(table.get("arguments", {}), op, f"{where}.arguments")

    item = op.output.body
    items: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    if ("items" in table or "present" in table) != ("list" in table):
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
        name: _field(spec, item, bool(present), enums, f"{where}.fields.{name}")
        for name, spec in fields_table.items()
    }
    list_key = _string(table, "list", where) if "list" in table else None
    fallback = table.get("fallback", False)
    if fallback not in (True, False) or (fallback and list_key is None):
        raise MappingError(f"{where}.fallback: only `fallback = true`, on a list read")
    return Read(service, operation, dict(inputs), fields, list_key, items, present, fallback)


def _write(table: Any, reads: tuple[Read, ...], enums: dict[str, Enum], wsdls: Wsdls,
           where: str) -> Write:
    table = _expect(table, where, {"write"},
                    {"service", "operation", "arguments", "of", "policy"})
    write = _string(table, "write", where)
    if write == "policy":
        _expect(table, where, {"write"}, set())
        if not any(f.policy for f in reads[0].fields.values()) or not reads[0].list:
            raise MappingError(f"{where}: a policy write needs a list GET with a policy field")
        if "name" not in reads[0].fields:
            raise MappingError(f"{where}: a policy write needs a `name` field to key it")
        return PolicyWrite()
    if write == "call":
        _expect(table, where, {"write", "service", "operation", "arguments"}, set())
        service, operation, op = _operation(table, wsdls, where)
        parsed = {}
        for argument, spec in _arguments(table["arguments"], op, f"{where}.arguments").items():
            spec = _expect(spec, f"{where}.arguments.{argument}", {"field"}, {"enum"})
            json_field = _string(spec, "field", f"{where}.arguments.{argument}")
            if json_field not in reads[0].fields:
                raise MappingError(f"{where}.arguments.{argument}.field: GET has no {json_field!r}")
            parsed[json_field] = Field(
                path=(argument,), enum=_enum_ref(spec, enums, f"{where}.arguments.{argument}"))
        return CallWrite(service, operation, parsed)
    if write == "configuration":
        _expect(table, where, {"write", "of", "policy"}, set())
        of = _string(table, "of", where)
        if of not in CONFIGURATION_KINDS:
            raise MappingError(f"{where}.of: one of {sorted(CONFIGURATION_KINDS)}")
        spec = _expect(table["policy"], f"{where}.policy", {"field", "table"}, {"enum"})
        policy_field = _string(spec, "field", f"{where}.policy")
        if policy_field not in reads[0].fields:
            raise MappingError(f"{where}.policy.field: GET has no field {policy_field!r}")
        policy = Policy(policy_field, _string(spec, "table", f"{where}.policy"),
                        _enum_ref(spec, enums, f"{where}.policy"))
        return ConfigurationWrite(of, policy)
    raise MappingError(f"{where}.write: unknown write {write!r} (known: {sorted(WRITES)})")


def parse_mapping(name: str, data: dict[str, Any], wsdls: Wsdls) -> Resource:
    """Check one mapping file's data against the WSDLs and build its Resource."""
    _expect(data, name, {"path", "title", "get"}, {"methods", "level", "put", "enums"})
    level = _string(data, "level", name) if "level" in data else READ
    if level not in LEVELS:
        raise MappingError(f"level: one of {', '.join(LEVELS)}")
    path = _string(data, "path", name)
    if not path.startswith("/") or path.startswith("/devices"):
        raise MappingError(f"{name}.path: must start with '/' and not with '/devices'")
    methods = _strings(data, "methods", name) if "methods" in data else ("GET",)
    if not set(methods) <= {"GET", "POST"}:
        raise MappingError(f"{name}.methods: GET and/or POST (PUT is the [put] table)")
    enums = {
        enum_name: _enum(enum_name, rows, f"enums.{enum_name}")
        for enum_name, rows in _expect(data.get("enums", {}), "enums", set(),
                                       set(data.get("enums", {}))).items()
    }
    gets = data["get"] if isinstance(data["get"], list) else [data["get"]]
    reads = tuple(
        _read(table, enums, wsdls, f"get[{i}]" if len(gets) > 1 else "get")
        for i, table in enumerate(gets)
    )
    shapes = {(r.list, tuple(r.fields)) for r in reads}
    if len(shapes) > 1:
        raise MappingError("get: alternatives must give the same JSON (same list and fields)")
    fallbacks = tuple(r for r in reads if r.fallback)
    reads = tuple(r for r in reads if not r.fallback)
    if not reads:
        raise MappingError("get: a fallback needs a read before it")
    put = _write(data["put"], reads, enums, wsdls, "put") if "put" in data else None
    if put is not None and "PUT" in methods:
        raise MappingError("methods: PUT is the [put] table")
    return Resource(name, path, _string(data, "title", name), tuple(methods), level, reads, put,
                    fallbacks)


def load_mappings(directory: Path, wsdls: Wsdls) -> list[Resource]:
    """Load and check every *.toml file of a mappings folder."""
    resources: list[Resource] = []
    for file in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
            resources.append(parse_mapping(file.stem, data, wsdls))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, MappingError) as exc:
            raise MappingError(f"{file}: {exc}") from None
    if not resources:
        raise MappingError(f"{directory}: no mapping files (*.toml)")
    paths = [r.path for r in resources]
    duplicates = {p for p in paths if paths.count(p) > 1}
    if duplicates:
        raise MappingError(f"{directory}: more than one file maps {sorted(duplicates)[0]}")
    return resources
