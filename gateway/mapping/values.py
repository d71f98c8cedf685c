"""Values of the REST side: enums between JSON and ONVIF, and the JSON types mapping files name
("string", "integer", "number", "boolean"), checked the same way wherever a client sends one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadRequest, MappingError, quoted
from gateway.soap.xml import NOT_XML

JSON_TYPES = ("string", "integer", "number", "boolean")
_PYTHON = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}


@dataclass(frozen=True)
class Enum:
    """A two-way table between JSON values and ONVIF values (with aliases devices answer with)."""

    name: str
    rows: tuple[tuple[Any, ...], ...]
    # Clients may send a JSON value in lower or upper case ("h264" or "H264": the API spells
    # codec names both ways); answers keep the enum's own spelling.
    either_case: bool = False

    @property
    def json_values(self) -> list[Any]:
        return [row[0] for row in self.rows]

    @property
    def accepted(self) -> list[Any]:
        """What a client may send: the JSON values and, for an either_case enum, their lower
        and upper case spellings too."""
        values = self.json_values
        if self.either_case:
            values = [*values, *(v.lower() for v in values), *(v.upper() for v in values)]
        return list(dict.fromkeys(values))

    def from_client(self, value: Any) -> Any:
        """The JSON value a client meant, in the enum's spelling, or raise KeyError."""
        for row in self.rows:
            if value == row[0] or (self.either_case and value in (row[0].lower(),
                                                                   row[0].upper())):
                return row[0]
        raise KeyError(value)

    @property
    def json_type(self) -> str:
        return json_type_of(self.rows[0][0])

    @property
    def onvif_values(self) -> list[Any]:
        return [row[1] for row in self.rows]

    def to_onvif(self, value: Any) -> Any:
        return next(row[1] for row in self.rows if row[0] == value)

    def onvif_names(self, value: Any) -> tuple[Any, ...]:
        """Every ONVIF name of a JSON value: its own, then the aliases devices use."""
        return next(row[1:] for row in self.rows if row[0] == value)

    def to_json(self, value: Any) -> Any:
        """The JSON value of an ONVIF value, or raise KeyError."""
        for row in self.rows:
            if value in row[1:]:
                return row[0]
        raise KeyError(value)


def parse_enum(name: str, rows: Any, where: str) -> Enum:
    """An [enums] entry: a list of [JSON value, ONVIF value, aliases...], or a table
    { either_case = true, values = [...] } for string values a client may send in either case."""
    either_case = False
    if isinstance(rows, dict):
        if set(rows) != {"either_case", "values"} or not isinstance(rows["either_case"], bool):
            raise MappingError(f"{where}: a table is {{ either_case = true, values = [...] }}")
        either_case, rows = rows["either_case"], rows["values"]
    if (
        not isinstance(rows, list) or not rows
        or not all(isinstance(r, list) and len(r) >= 2 for r in rows)
    ):
        raise MappingError(f"{where}: an enum is a list of [JSON value, ONVIF value, aliases...]")
    json_values = [row[0] for row in rows]
    if len(set(json_values)) != len(json_values):
        raise MappingError(f"{where}: a JSON value is listed twice")
    if len({type(v) for v in json_values}) != 1 or not isinstance(json_values[0], str | int):
        raise MappingError(f"{where}: JSON values must all be strings or all integers")
    if either_case and (not isinstance(json_values[0], str)
                        or len({v.lower() for v in json_values}) != len(json_values)):
        raise MappingError(f"{where}: either_case is for string values that differ in more "
                           "than case")
    return Enum(name, tuple(tuple(row) for row in rows), either_case)


def json_type_of(value: Any) -> str:
    """The JSON type name of a Python value from TOML or JSON ("string" for anything else)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def is_json_type(value: Any, kind: str) -> bool:
    """Whether a JSON value is of a JSON type (a bool is never a number here)."""
    return isinstance(value, _PYTHON[kind]) and (isinstance(value, bool) == (kind == "boolean"))


def check_value(value: Any, kind: str, enum: Enum | None, name: str, where: str) -> Any:
    """A client's value, of its declared type and enum, or a BadRequest naming where it is."""
    if not is_json_type(value, kind):
        raise BadRequest(f"{name!r} must be a JSON {kind}", field=where)
    if isinstance(value, str) and not xml_text(value):
        raise BadRequest(f"{name!r} holds characters no SOAP message can carry", field=where)
    if enum is None:
        return value
    try:
        return enum.from_client(value)
    except KeyError:
        case = " (in either case)" if enum.either_case else ""
        raise BadRequest(f"{name} must be one of {enum.json_values}{case}, not {quoted(value)}",
                         field=where) from None


def xml_text(value: str) -> bool:
    """Whether a string can go into a SOAP message as it is: JSON and URLs can hold what XML 1.0
    text cannot (control characters, lone surrogates, U+FFFE, U+FFFF)."""
    return NOT_XML.search(value) is None


def from_text(text: str, kind: str) -> Any:
    """A typed value from its text in a URL (path or query), or ValueError."""
    if not xml_text(text):
        raise ValueError(text)  # no SOAP message can carry it
    if kind == "integer":
        return int(text)
    if kind == "number":
        if not math.isfinite(number := float(text)):
            raise ValueError(text)
        return number
    if kind == "boolean":
        if text not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text in ("true", "1")
    return text
