"""Reading a device's SOAP reply into plain data: small replies at once, large ones in a worker
thread, so that one device sending thousands of entries never stalls the event loop (and with
it every other device and /healthz).

A device asked the same thing answers the same bytes (GetDeviceInformation, GetProfiles, a
camera's configurations, polled again and again): zeep reads each distinct small successful
reply once, checking it against the schema in full, and a later reply of the same bytes to the
same operation is answered from what that reading gave (a copy: callers may change theirs;
only plain data is kept, never an XML element that an xs:any gave). It
is no cache of answers: every call still goes to the device and gets the device's answer now;
only the reading of bytes already read is not done again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

import attr
import zeep
from cachetools import LRUCache
from zeep.settings import Settings

from gateway.soap.transport import Reply
from gateway.soap.wsdl import ZEEP_SETTINGS

# zeep posts and hands back the HTTP reply unparsed; parse() parses it, where it should be.
RAW_REPLY_SETTINGS = Settings(**{
    **{a.name: getattr(ZEEP_SETTINGS, a.name) for a in attr.fields(Settings) if a.init
       and not a.name.startswith("_")},
    "raw_response": True})
# zeep takes about a millisecond per 2 KiB of reply (10,000 video sources, 1.5 MB: seconds);
# below this a thread costs more than it saves.
OFF_LOOP_BYTES = 64 * 1024
# Replies read once and kept, by their bytes: each at most KNOWN_REPLY_BYTES long, and at most
# KNOWN_BYTES of them in all (with the data read from them, about twice that in memory, whatever
# the devices send; a fleet of 500 devices fits its device information in a quarter of it).
KNOWN_REPLY_BYTES = 8 * 1024
KNOWN_BYTES = 1024 * 1024

T = TypeVar("T")

# (reply bytes, data), by binding, operation, plugins and the reply's bytes
_known: LRUCache[tuple[Hashable, ...], tuple[int, Any]] = LRUCache(
    KNOWN_BYTES, getsizeof=lambda entry: entry[0])


async def parse(binding: Any, client: zeep.Client, operation: str, reply: Reply,
                convert: Callable[[Any], T]) -> T:
    """zeep's processing of a reply (faults raised as zeep.exceptions.Fault), then convert.

    convert must be the same for the same binding, operation and plugins (device.py's is)."""

    def read() -> T:
        return convert(binding.process_reply(client, binding.get(operation), reply))

    if len(reply.content) >= OFF_LOOP_BYTES:
        return await asyncio.to_thread(read)
    if reply.status_code != 200 or len(reply.content) > KNOWN_REPLY_BYTES:
        return read()  # (zeep raises for any status but 200: nothing to keep)
    key = (binding, operation, *client.plugins, reply.content)
    known = _known.get(key)
    if known is not None:
        return cast(T, _copy(known[1]))
    result = read()
    if _plain(result):  # not an xs:any's XML element, which means something only in its tree
        _known[key] = (len(reply.content), _copy(result))
    return result


PLAIN = (str, int, float, Decimal, datetime, date, time, timedelta, bytes, type(None))


def _copy(data: Any) -> Any:
    """A copy of plain data: new dicts and lists, the same (immutable) values. copy.deepcopy
    did the same at several times the cost (its memo of every object), on every reply."""
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(value) for value in data]
    return data


def _plain(data: Any) -> bool:
    """Whether data is only dicts and lists of values that a copy keeps whole."""
    if isinstance(data, dict):
        return all(_plain(value) for value in data.values())
    if isinstance(data, list):
        return all(_plain(value) for value in data)
    return isinstance(data, PLAIN)
