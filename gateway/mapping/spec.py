"""Mapping files: what a REST resource is, in ONVIF terms, as plain data checked at start.

A mapping file (TOML, one per resource, in mappings/) looks like this:

    path = "/device-information"          # the REST path (also served under /devices/{id}/...)
    title = "Device information"

    [get]                                 # what GET does
    service = "device"                    # device | media | media2 (gateway.soap.wsdl.SERVICES)
    operation = "GetDeviceInformation"    # an operation of that service's WSDL binding

    [get.fields]                          # JSON field = element of the response, dotted when nested
    firmware = "FirmwareVersion"

Every file is checked against the WSDL types when the gateway starts: a wrong key, service,
operation or element stops start-up with the file and the path inside it named.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import MappingError
from gateway.soap.wsdl import SERVICES, Wsdls


@dataclass(frozen=True)
class Read:
    """One ONVIF call, and the JSON fields taken from its response."""

    service: str
    operation: str
    fields: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Resource:
    """A REST resource declared by one mapping file."""

    name: str
    path: str
    title: str
    get: Read


def _expect(table: dict[str, Any], where: str, required: set[str], optional: set[str]) -> None:
    unknown = set(table) - required - optional
    if unknown:
        known = ", ".join(sorted(required | optional))
        raise MappingError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})")
    missing = required - set(table)
    if missing:
        raise MappingError(f"{where}: missing key {sorted(missing)[0]!r}")


def _string(table: dict[str, Any], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise MappingError(f"{where}.{key}: must be a non-empty string")
    return value


def _check_element_path(
    element: Any, path: tuple[str, ...], where: str
) -> None:
    """Walk path through the zeep element types, naming the first part that is not there."""
    current = element
    for depth, part in enumerate(path):
        children = dict(getattr(current.type, "elements", []))
        if part not in children:
            known = ", ".join(children) or "no child elements"
            raise MappingError(
                f"{where}: {part!r} (part {depth + 1} of {'.'.join(path)!r}) is not an element "
                f"of {current.name} (it has: {known})"
            )
        current = children[part]


def _read(table: Any, where: str, wsdls: Wsdls) -> Read:
    if not isinstance(table, dict):
        raise MappingError(f"{where}: must be a table")
    _expect(table, where, {"service", "operation", "fields"}, set())
    service = _string(table, "service", where)
    if service not in SERVICES:
        raise MappingError(f"{where}.service: unknown service {service!r} (known: "
                           f"{', '.join(SERVICES)})")
    operation = _string(table, "operation", where)
    try:
        output = wsdls.binding(service).get(operation).output.body
    except ValueError:
        raise MappingError(
            f"{where}.operation: {service} service has no operation {operation!r}"
        ) from None
    fields_table = table["fields"]
    if not isinstance(fields_table, dict) or not fields_table:
        raise MappingError(f"{where}.fields: must be a table of JSON field = element path")
    fields: dict[str, tuple[str, ...]] = {}
    for json_field in fields_table:
        element_path = tuple(_string(fields_table, json_field, f"{where}.fields").split("."))
        _check_element_path(output, element_path, f"{where}.fields.{json_field}")
        fields[json_field] = element_path
    return Read(service, operation, fields)


def parse_mapping(name: str, data: dict[str, Any], wsdls: Wsdls) -> Resource:
    """Check one mapping file's data against the WSDLs and build its Resource."""
    _expect(data, name, {"path", "title", "get"}, set())
    path = _string(data, "path", name)
    if not path.startswith("/") or path.startswith("/devices"):
        raise MappingError(f"{name}.path: must start with '/' and not with '/devices'")
    return Resource(
        name=name, path=path, title=_string(data, "title", name),
        get=_read(data["get"], f"{name}: get", wsdls),
    )


def load_mappings(directory: Path, wsdls: Wsdls) -> list[Resource]:
    """Load and check every *.toml file of a mappings folder."""
    resources: list[Resource] = []
    for file in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"{file}: {exc}") from None
        try:
            resources.append(parse_mapping(file.stem, data, wsdls))
        except MappingError as exc:
            raise MappingError(f"{file}: {exc}") from None
    if not resources:
        raise MappingError(f"{directory}: no mapping files (*.toml)")
    paths = [r.path for r in resources]
    duplicates = {p for p in paths if paths.count(p) > 1}
    if duplicates:
        raise MappingError(f"{directory}: more than one file maps {sorted(duplicates)[0]}")
    return resources
