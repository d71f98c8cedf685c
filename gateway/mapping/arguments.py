"""Call arguments in mapping files, checked against the operation's XSD input types at start.

An `arguments` table is keyed by the operation's input elements (ONVIF names, CamelCase). A value
is one of:

    ForcePersistence = true                    a constant of the element's XSD type (one of its
    Type = ["VideoSource", "VideoEncoder"]     values if enumerated; a list if it is repeated)
    StreamSetup = { Stream = "RTP-Unicast", Transport = { Protocol = "RTSP" } }
                                               a nested element: a table of its children
    ProfileToken = { param = "token" }         a path or query parameter of the resource
    Brightness = { field = "brightness" }      a field of the request body (writes)
    VideoSourceToken = { item = "name" }       a field of the item a fan-out calls for
    NodeToken = { reply = "profile", element = "Profile.PTZConfiguration.NodeToken" }
                                               an element of the reply of an earlier named call
                                               (`calls`); absent, the resource is 404
    x = { field = "pan", default = 0 }         a body field that may be left out: its default
    x = { field = "x", default = { reply = "current", element = "..." } }
                                               ... or what an earlier call's reply holds
    x = { sum = [{ reply = ... }, { field = ... }] }
                                               numbers added (an absolute position from the
                                               current one and a translation)
    PanTilt = { x = ..., y = ..., given = ["pan", "tilt"] }
                                               a nested element sent only when the body gives
                                               one of these fields (no Zoom to a head without
                                               zoom, when the client moves pan alone)
    Zoom = { x = 0, when = "supports.zoom" }   (actions) a nested element left out where this
                                               field of the GET is false (read first)

Lower-case keys are this vocabulary, so they never clash with ONVIF's element names. A value taken
from the request is translated by its enum (the parameter's or field's) and must fit the element's
type: a JSON string never feeds an xs:int, and an enumerated XSD type needs an enum whose ONVIF
values are all among its own. A required element (minOccurs 1) must be given; a value from an
optional parameter that is absent leaves its element out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from zeep.xsd import ComplexType
from zeep.xsd.types import builtins as xsd

from gateway.errors import MappingError
from gateway.mapping.values import Enum, json_type_of
from gateway.soap.wsdl import Wsdls
from gateway.soap.xml import XS

SOURCES = ("param", "field", "item", "reply", "sum")


@dataclass(frozen=True)
class Given:
    """A nested element (its children parsed) sent only when one of these body fields is
    (`given`), and not when the GET field `when` names shows false."""

    fields: tuple[Source, ...]
    children: dict[str, Any]
    when: Source | None = None


@dataclass(frozen=True)
class Source:
    """A value taken from the request (or, for `item`, from a fan-out's item), as JSON.

    `type` is its JSON type, `enum` translates it to ONVIF, `required` says it is always there."""

    kind: str
    name: str
    type: str | None = "string"
    enum: Enum | None = None
    required: bool = True
    path: tuple[str, ...] = ()  # reply: the element in the named call's reply
    default: Any = None  # field: the value when the body leaves it out (or a reply Source)
    parts: tuple[Source, ...] = ()  # sum: the values added
    # sum (of an action): GET fields (min, max) the total is clamped into; `name` is then the
    # body field it reports as clamped
    within: tuple[str, str] | None = None


# Resolves a {param|field|item = name, ...} table at start (the key, the table, where it is): the
# Source, or a MappingError. A Source whose type is None takes the JSON type of its element.
Lookup = Callable[[str, dict[str, Any], str], Source]


def xsd_json_type(kind: Any) -> str:
    """The JSON type a value of a simple XSD type has ("string" for all the text types)."""
    if isinstance(kind, xsd.Boolean):
        return "boolean"
    if isinstance(kind, xsd.Integer):
        return "integer"
    if isinstance(kind, xsd.Float | xsd.Double | xsd.Decimal):
        return "number"
    return "string"


def _type_name(kind: Any) -> str:
    """tt:ExposureMode -> ExposureMode, xs:float -> xs:float."""
    qname = getattr(kind, "qname", None)
    local = getattr(qname, "localname", None) or type(kind).__name__
    return f"xs:{local}" if getattr(qname, "namespace", None) == XS else local


def _fits(value: Any, kind: Any, wsdls: Wsdls) -> str | None:
    """Why a constant does not fit a simple XSD type (None when it does)."""
    expected = xsd_json_type(kind)
    have = json_type_of(value)
    if not (have == expected or (expected == "number" and have == "integer")):
        return f"{value!r} is not a {expected}, as {_type_name(kind)} wants"
    allowed = wsdls.enumerations.get(str(getattr(kind, "qname", "")))
    if allowed is not None and value not in allowed:
        return f"{value!r} is not a value of {_type_name(kind)} (one of: {', '.join(allowed)})"
    return None


def _check_source(source: Source, kind: Any, wsdls: Wsdls, where: str) -> None:
    if source.enum is not None:
        for value in source.enum.onvif_values:
            if (problem := _fits(value, kind, wsdls)) is not None:
                raise MappingError(f"{where}: enum {source.enum.name}: {problem}")
        return
    expected = xsd_json_type(kind)
    if not (source.type == expected or (expected == "number" and source.type == "integer")):
        raise MappingError(f"{where}: {source.kind} {source.name!r} is a {source.type}; "
                           f"{_type_name(kind)} wants a {expected}")
    allowed = wsdls.enumerations.get(str(getattr(kind, "qname", "")))
    if allowed is not None:
        raise MappingError(f"{where}: {_type_name(kind)} takes one of {', '.join(allowed)}: give "
                           f"{source.kind} {source.name!r} an enum")


def _children(kind: Any) -> dict[str, tuple[Any, bool, bool]]:
    """A complex type's elements and attributes: (type, required, repeated) by name."""
    children = {
        name: (element.type, element.min_occurs >= 1,
               element.max_occurs == "unbounded" or element.max_occurs > 1)
        for name, element in getattr(kind, "elements", []) if not name.startswith("_")
    }
    for name, attribute in getattr(kind, "attributes", []):
        if not name.startswith("_"):
            children[name] = (attribute.type, bool(attribute.required), False)
    return children


def parse_arguments(table: Any, kind: Any, lookup: Lookup, wsdls: Wsdls,
                    where: str) -> dict[str, Any]:
    """Check an arguments table against a complex XSD type (an operation's input, or an element
    inside it); returns it with Sources in place of the {param|field|item = ...} tables."""
    if not isinstance(table, dict):
        raise MappingError(f"{where}: must be a table of ONVIF element = value")
    children = _children(kind)
    parsed: dict[str, Any] = {}
    for name, value in table.items():
        if name in ("given", "when"):
            continue
        if name not in children:
            known = ", ".join(children) or "nothing"
            raise MappingError(f"{where}: {name!r} is not an element of {_type_name(kind)} "
                               f"(it has: {known})")
        child, _, repeated = children[name]
        parsed[name] = _value(value, child, repeated, lookup, wsdls, f"{where}.{name}")
    for name, (_, required, _) in children.items():
        if required and not _given(parsed.get(name)):
            raise MappingError(f"{where}: {_type_name(kind)} needs {name!r}"
                               + (", from a required parameter or field" if name in parsed else ""))
        if required and isinstance(parsed.get(name), Given):
            raise MappingError(f"{where}.{name}.given: {_type_name(kind)} needs {name!r} always")
    return parsed


def needs_one_of(arguments: dict[str, Any], kind: Any) -> tuple[tuple[str, ...], ...]:
    """For each element the operation requires that is made of `given` elements only (a move's
    Velocity: PanTilt given pan or tilt, Zoom given zoom), the body fields one of which it
    needs: without any, it would be sent empty (left out), and the call could not be made."""
    groups: list[tuple[str, ...]] = []
    children = _children(kind)
    for name, value in arguments.items():
        child, required, _ = children[name]
        if not required or not isinstance(value, dict) or not value:
            continue
        parts = list(value.values())
        if all(isinstance(part, Given) and part.fields for part in parts):
            groups.append(tuple(dict.fromkeys(f.name for part in parts for f in part.fields)))
        else:
            groups.extend(needs_one_of(value, child))
    return tuple(groups)


def _given_fields(value: Any, lookup: Lookup, where: str) -> tuple[Source, ...]:
    """The body fields of a `given` list, each known to the body."""
    if not isinstance(value, list) or not value or \
            not all(isinstance(name, str) for name in value):
        raise MappingError(f"{where}: a list of body fields")
    return tuple(lookup("field", {"field": name}, f"{where}[{i}]")
                 for i, name in enumerate(value))


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, Source) and not value.required)


def _value(value: Any, kind: Any, repeated: bool, lookup: Lookup, wsdls: Wsdls,
           where: str) -> Any:
    if isinstance(value, list):
        if not repeated:
            raise MappingError(f"{where}: a list, but the element is not repeated")
        return [_value(v, kind, False, lookup, wsdls, f"{where}[{i}]")
                for i, v in enumerate(value)]
    if isinstance(value, dict) and any(key in value for key in SOURCES):
        kinds = [key for key in SOURCES if key in value]
        if len(kinds) != 1:
            raise MappingError(f"{where}: give one of {', '.join(SOURCES)}")
        source = lookup(kinds[0], value, where)
        if isinstance(kind, ComplexType):
            raise MappingError(f"{where}: {_type_name(kind)} is a complex type: give its "
                               "elements as a table")
        if source.type is None:
            source = replace(source, type=xsd_json_type(kind))
        _check_source(source, kind, wsdls, where)
        return source
    if isinstance(kind, ComplexType):
        if not isinstance(value, dict):
            raise MappingError(f"{where}: {_type_name(kind)} is a complex type: give its "
                               "elements as a table")
        children = parse_arguments(value, kind, lookup, wsdls, where)
        if "given" not in value and "when" not in value:
            return children
        fields = _given_fields(value["given"], lookup, f"{where}.given") \
            if "given" in value else ()
        when = None
        if "when" in value:
            if not isinstance(value["when"], str):
                raise MappingError(f"{where}.when: a field of the GET (true or false)")
            when = lookup("state", {"state": value["when"]}, f"{where}.when")
        return Given(fields, children, when)
    if isinstance(value, dict):
        raise MappingError(f"{where}: {_type_name(kind)} is a simple type, not a table")
    if (problem := _fits(value, kind, wsdls)) is not None:
        raise MappingError(f"{where}: {problem}")
    return value


def sources(arguments: Any) -> Iterator[Source]:
    """Every Source in an arguments tree."""
    if isinstance(arguments, Source):
        yield arguments
        for part in arguments.parts:
            yield from sources(part)
    elif isinstance(arguments, Given):
        yield from arguments.fields
        if arguments.when is not None:
            yield arguments.when
        yield from sources(arguments.children)
    elif isinstance(arguments, dict):
        for value in arguments.values():
            yield from sources(value)
    elif isinstance(arguments, list):
        for value in arguments:
            yield from sources(value)


class Untranslatable(Exception):
    """A request's value that the argument's enum has no ONVIF value for."""

    def __init__(self, source: Source, value: Any) -> None:
        super().__init__(f"{source.name}: {value!r}")
        self.source = source
        self.value = value


def build(arguments: dict[str, Any], resolve: Callable[[Source], Any]) -> dict[str, Any]:
    """The call's arguments: Sources resolved (JSON value -> ONVIF value by their enum); an
    absent value (None) leaves its element out, and so does a nested element left empty; a
    value the enum lacks raises Untranslatable."""

    def value(spec: Any) -> Any:
        if isinstance(spec, Source):
            found = resolve(spec)
            if spec.enum is None or found is None:
                return found
            if found not in spec.enum.json_values:
                raise Untranslatable(spec, found)
            return spec.enum.to_onvif(found)
        if isinstance(spec, Given):
            if spec.fields and all(resolve(field) is None for field in spec.fields):
                return None
            if spec.when is not None and resolve(spec.when) is False:
                return None  # the device has no such axis (null: not known, sent)
            return value(spec.children)
        if isinstance(spec, dict):
            built = {k: v for k, s in spec.items() if (v := value(s)) is not None}
            # an element all of whose values are absent is left out (no empty PanTilt)
            return built if built or not spec else None
        if isinstance(spec, list):
            return [value(s) for s in spec]
        return spec

    built: dict[str, Any] = value(arguments) or {}
    return built
