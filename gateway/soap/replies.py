"""Reading a device's SOAP reply into plain data: small replies at once, large ones in a worker
thread, so that one device sending thousands of entries never stalls the event loop (and with
it every other device and /healthz)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import attr
import zeep
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

T = TypeVar("T")


async def parse(binding: Any, client: zeep.Client, operation: str, reply: Reply,
                convert: Callable[[Any], T]) -> T:
    """zeep's processing of a reply (faults raised as zeep.exceptions.Fault), then convert."""

    def read() -> T:
        return convert(binding.process_reply(client, binding.get(operation), reply))

    if len(reply.content) < OFF_LOOP_BYTES:
        return read()
    return await asyncio.to_thread(read)
