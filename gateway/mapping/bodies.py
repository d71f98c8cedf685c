"""Request bodies, declared as data: one declaration checks a body and describes it (JSON Schema).

A mapping file's write declares its body in `[put.body]`, one entry per JSON field:

    c_name = { type = "string", example = "configuration2", description = "..." }
    action = { type = "string", enum = "action" }        one of the enum's JSON values
    port = { type = "integer", required = false }        may be left out (default: required)
    sources = { type = "array", items = { name = { type = "string" }, enabled = { ... } } }
                                                         a list of objects with these fields
    id = { type = "string", pattern = "^[a-z]+$" }       a string matching a pattern

Types: string, integer, number, boolean, array (of objects: `items`). A body is a JSON object
with exactly its declared fields; what is wrong is named by its JSON path ($.sources[1].enabled).
The same declaration is the body's JSON Schema in the OpenAPI description, and the fields'
examples make the request example there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.errors import BadRequest, MappingError, quoted, shortened
from gateway.mapping.values import JSON_TYPES, Enum, check_value, is_json_type

TYPES = (*JSON_TYPES, "array")
# Strings go into SOAP messages, where XML 1.0 cannot carry control characters (a 400).
XML_TEXT = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\ufffe\\uffff]*$"
Schema = dict[str, Any]


@dataclass(frozen=True)
class BodyField:
    """One declared field of a request body."""

    name: str
    type: str
    enum: Enum | None = None
    required: bool = True
    example: Any = None
    description: str = ""
    items: Body | None = None  # an array's objects
    pattern: str | None = None

    def schema(self) -> Schema:
        """The field's JSON Schema."""
        if self.items is not None:
            schema: Schema = {"type": "array", "items": self.items.schema()}
        elif self.enum is not None:
            schema = {"type": self.type, "enum": self.enum.accepted}
        elif self.type == "string":
            schema = {"type": "string", "pattern": XML_TEXT}
        else:
            schema = {"type": self.type}
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        description = self.description
        if self.enum is not None and self.enum.either_case:
            description = " ".join(filter(None, [description, (
                f"Either case is taken ({self.enum.json_values[0]} or "
                f"{self.enum.json_values[0].swapcase()}); answers spell it "
                f"{self.enum.json_values[0]}.")]))
        if description:
            schema["description"] = description
        return schema


@dataclass(frozen=True)
class Body:
    """A request body: a JSON object with these fields."""

    fields: dict[str, BodyField]

    def check(self, data: Any, where: str = "$") -> dict[str, Any]:
        """data as this body, or a BadRequest naming the first field at fault."""
        if not isinstance(data, dict):
            raise BadRequest(f"{where} must be a JSON object", field=where)
        for name in data:
            if name not in self.fields:
                raise BadRequest(f"unknown field {quoted(name)} (expected: "
                                 f"{', '.join(self.fields)})", field=f"{where}.{shortened(name)}")
        for name, spec in self.fields.items():
            at = f"{where}.{name}"
            if name not in data:
                if spec.required:
                    raise BadRequest(f"missing field {name!r}", field=at)
                continue
            if spec.items is None:
                # the enum's own spelling from here on (a codec name sent in either case)
                data[name] = check_value(data[name], spec.type, spec.enum, name, at)
                if spec.pattern is not None and not re.search(spec.pattern, data[name]):
                    raise BadRequest(f"{name!r} must match {spec.pattern}", field=at)
            elif not isinstance(data[name], list):
                raise BadRequest(f"{name!r} must be a JSON array", field=at)
            else:
                for i, entry in enumerate(data[name]):
                    spec.items.check(entry, f"{at}[{i}]")
        return data

    def schema(self) -> Schema:
        """The body's JSON Schema (closed: exactly these properties)."""
        return {"type": "object",
                "properties": {name: spec.schema() for name, spec in self.fields.items()},
                "required": [name for name, spec in self.fields.items() if spec.required],
                "additionalProperties": False}

    def example(self) -> dict[str, Any]:
        """A body made of the fields' examples (those that have one)."""
        example: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if spec.items is not None:
                example[name] = [spec.items.example()]
            elif spec.example is not None:
                example[name] = spec.example
        return example


def parse_body(table: Any, enums: dict[str, Enum], where: str) -> Body:
    """A body declaration ([put.body], or a field's `items`), checked."""
    if not isinstance(table, dict) or not table:
        raise MappingError(f"{where}: a table of JSON field = {{ type = ..., ... }}")
    fields: dict[str, BodyField] = {}
    for name, spec in table.items():
        at = f"{where}.{name}"
        if not isinstance(spec, dict):
            raise MappingError(f"{at}: a table such as {{ type = \"string\" }}")
        known = {"type", "enum", "required", "example", "description", "items", "pattern"}
        if set(spec) - known:
            raise MappingError(f"{at}: unknown key {sorted(set(spec) - known)[0]!r} (known: "
                               f"{', '.join(sorted(known))})")
        enum = None
        if "enum" in spec:
            if spec["enum"] not in enums:
                raise MappingError(f"{at}.enum: no enum {spec['enum']!r}")
            enum = enums[spec["enum"]]
        kind = spec.get("type", enum.json_type if enum else None)
        if kind not in TYPES:
            raise MappingError(f"{at}.type: one of {', '.join(TYPES)}")
        if enum is not None and enum.json_type != kind:
            raise MappingError(f"{at}.enum: {enum.name}'s values are not {kind}s")
        if (kind == "array") != ("items" in spec):
            raise MappingError(f"{at}: `items` (the fields of its objects) goes with an array")
        items = parse_body(spec["items"], enums, f"{at}.items") if kind == "array" else None
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise MappingError(f"{at}.required: true or false")
        example = spec.get("example")
        if example is not None and not (
            kind != "array" and is_json_type(example, kind)
            and (enum is None or example in enum.json_values)
        ):
            raise MappingError(f"{at}.example: {example!r} is not a valid {kind}"
                               + (f" of {enum.name}" if enum else ""))
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise MappingError(f"{at}.description: a string")
        pattern = spec.get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except (re.error, TypeError):
                raise MappingError(f"{at}.pattern: not a regular expression") from None
            if kind != "string":
                raise MappingError(f"{at}.pattern: only for a string")
        fields[name] = BodyField(name, kind, enum, required, example, description, items,
                                 pattern)
    return Body(fields)


def declare(**fields: str | dict[str, Any]) -> Body:
    """A body declared in Python (the gateway's own routes): declare(username="string", ...)."""
    table = {name: {"type": spec} if isinstance(spec, str) else spec
             for name, spec in fields.items()}
    return parse_body(table, {}, "body")
