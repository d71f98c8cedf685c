"""One device's PullPoint subscription, kept alive by the gateway for as long as it is needed.

CreatePullPointSubscription, SetSynchronizationPoint (so that the device tells the current value
of every property at once, unless it lacks the operation; its answer is waited for a
moment at most), then PullMessages in a loop (each
waits on the device up to its Timeout), Renew at half of the subscription's life (unless the
device refuses Renew: then the pulls keep it alive), Unsubscribe when cancelled. A pull the
device gives no answer (closes the connection unanswered, or answers an empty body) is an empty
pull (some cameras do so when they have nothing to send), until the pull point has answered
nothing for the subscription's whole life. Every call goes through the device's DeviceClient
(breaker, credentials, error translation); calls to the pull point carry WS-Addressing headers
(DeviceClient.call_at).

Renewal does not trust the device's clock: the life of a subscription is the shorter of what the
gateway asked for and TerminationTime - CurrentTime as the device reports them, and what it asked
for alone when that difference is not positive (devices with time-zone bugs report a
TerminationTime in local time, hours off).

When anything fails (the device dropped the subscription, rebooted, is unreachable), the gateway
tells clients (`subscription-lost`), unsubscribes what may be left (so that it never holds two of
the device's few pull points), waits (1 s, doubling up to a bound, with jitter) and subscribes
again (`subscription-restored`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.credentials import Credentials
from gateway.errors import DeviceError, DeviceFault
from gateway.events.model import from_notification, gateway_event, property_key
from gateway.soap.device import DeviceClient
from gateway.soap.errors import unanswered

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """How the gateway keeps a subscription: its life, how long a pull waits, the backoff."""

    lifetime: float = 60.0  # asked for in CreatePullPointSubscription and Renew
    pull_timeout: float = 5.0  # PullMessages' Timeout (shorter than device_timeout)
    backoff: float = 1.0  # first wait before subscribing again; doubles after each failure
    max_backoff: float = 60.0
    message_limit: int = 100
    # after a PullMessages the device gave no answer (an empty pull on some cameras), before the
    # next: a device that does so at once is not asked in a tight loop (Home Assistant waits
    # 0.75 s between pulls)
    closed_pull_pause: float = 1.0
    unsubscribe_timeout: float = 2.0
    # SetSynchronizationPoint only queues messages: a device answers it at once, and one that
    # holds it unanswered must not hold back the first pull (and every event) for the whole
    # device_timeout
    synchronize_timeout: float = 2.0


def duration(seconds: float) -> str:
    """An xs:duration of whole seconds (rounded down: a pull must not outlast the time left
    before a renewal), at least one; fractions are left out, as simple firmware parses none."""
    return f"PT{max(1, int(seconds))}S"


def life(reply: Mapping[str, Any], asked: float) -> float:
    """Seconds the subscription lives from now, trusting the device only where it is sane."""
    current, termination = reply.get("CurrentTime"), reply.get("TerminationTime")
    if isinstance(current, datetime) and isinstance(termination, datetime):
        reported = (termination - current).total_seconds()
        if reported > 0:
            return min(asked, reported)
    return asked


Publish = Callable[[dict[str, Any]], None]


class PullPointSubscription:
    """The subscription loop of one device; run() until cancelled."""

    def __init__(self, device: DeviceClient, credentials: Callable[[], Credentials | None],
                 publish: Publish, synced: Callable[[], None], timing: Timing,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._device = device
        self._credentials = credentials
        self._publish = publish
        self._synced = synced
        self._timing = timing
        self._clock = clock
        self._unsynchronized = False  # the device failed a SetSynchronizationPoint (logged)

    async def run(self) -> None:
        failures = 0
        lost = False
        while True:
            credentials = self._credentials()
            address = None
            try:
                reply = await self._create(credentials)
                address = str(reply["SubscriptionReference"]["Address"]["_value_1"])
                if lost:
                    self._publish(gateway_event(self._device.name, "SubscriptionRestored",
                                                "subscription-restored"))
                    log.info("device %s: events subscription restored", self._device.name)
                lost, failures = False, 0
                await self._synchronize(address, credentials)
                await self._pull(address, credentials, life(reply, self._timing.lifetime))
            except asyncio.CancelledError:
                if address is not None:
                    await self._unsubscribe(address, credentials)
                raise
            except (DeviceError, KeyError, TypeError) as exc:
                reason = getattr(exc, "detail", None) or f"unusable answer ({exc!r})"
                if not lost:
                    log.warning("device %s: events subscription lost: %s", self._device.name,
                                reason)
                    self._publish(gateway_event(self._device.name, "SubscriptionLost",
                                                "subscription-lost", reason=reason))
                lost = True
                if address is not None:
                    await self._unsubscribe(address, credentials)
            failures += 1
            wait = min(self._timing.max_backoff, self._timing.backoff * 2 ** (failures - 1))
            await asyncio.sleep(wait * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)

    async def _create(self, credentials: Credentials | None) -> dict[str, Any]:
        """CreatePullPointSubscription. Cancelled meanwhile, it still waits for the answer and
        Unsubscribes what it got: a pull point the gateway does not know of would take one of
        the device's few until it expires."""
        creating = asyncio.ensure_future(self._device.call(
            "events", "CreatePullPointSubscription", credentials,
            InitialTerminationTime=duration(self._timing.lifetime)))
        try:
            return await asyncio.shield(creating)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._timing.unsubscribe_timeout):
                    reply = await creating
                await self._unsubscribe(
                    str(reply["SubscriptionReference"]["Address"]["_value_1"]), credentials)
            raise

    async def _pull(self, address: str, credentials: Credentials | None, lives: float) -> None:
        """PullMessages until something fails, renewing at half of the subscription's life."""
        renew_at = self._clock() + lives / 2
        answered = self._clock()  # when the pull point last answered a pull or a Renew
        first, told = True, False
        values: dict[Any, Any] = {}  # what this subscription told of each property
        while True:
            left = renew_at - self._clock()
            if left <= 0:
                renew_at = await self._renew(address, credentials)
                if renew_at != math.inf:
                    answered = self._clock()
                continue
            try:
                reply = await self._device.call_at(
                    address, "pullpoint", "PullMessages", credentials,
                    Timeout=duration(min(self._timing.pull_timeout, left)),
                    MessageLimit=self._timing.message_limit)
            except DeviceFault as exc:
                how = unanswered(exc)
                if how is None:
                    raise
                self._unanswered(how, self._clock() - answered, lives, told)
                told, reply = True, {}
                await asyncio.sleep(self._timing.closed_pull_pause)
            else:
                answered = self._clock()
            for holder in reply.get("NotificationMessage") or []:
                event = from_notification(self._device.name, holder)
                if event is not None and not repeated(event, values):
                    self._publish(event)
            if first:
                self._synced()  # the Initialized messages of a new subscription are in
                first = False

    async def _synchronize(self, address: str, credentials: Credentials | None) -> None:
        """SetSynchronizationPoint: the device tells every property's current value now
        (Initialized), as Home Assistant's onvif integration asks after each subscription: some
        cameras tell the initial state of their property events only then (hunterjm,
        home-assistant/core#41949). A device that refuses it, lacks it or gives it no usable
        answer (an unbranded camera's answer zeep could not read: home-assistant/core#73861 and
        #86400; a Bosch FLEXIDOME IP turret 3000i IR answering "unauthorized": #91089) is pulled
        from all the same, what it tells on subscribing being all there is, and logged once, as
        onvif-zeep-async's PullPointManager.set_synchronization_point tolerates every failure.
        A device that holds it unanswered is given synchronize_timeout (a timeout is among
        those failures there too, but waited out for the transport's whole timeout)."""
        wait = self._timing.synchronize_timeout
        try:
            async with asyncio.timeout(wait):
                await self._device.call_at(address, "pullpoint", "SetSynchronizationPoint",
                                           credentials)
        except (DeviceError, TimeoutError) as exc:
            if not self._unsynchronized:
                log.info("device %s: SetSynchronizationPoint failed (%s): the current state of "
                         "its property events is only what it tells on subscribing",
                         self._device.name, exc.detail if isinstance(exc, DeviceError)
                         else f"no answer within {wait:g} s")
            self._unsynchronized = True

    def _unanswered(self, how: str, silent: float, lives: float, told: bool) -> None:
        """A PullMessages the device gave no answer: an empty pull, as Home Assistant's onvif
        integration takes it (event.py, _async_pull_messages: "Some cameras may close the
        connection if there are no messages to pull"; an empty body, a TransportError from zeep
        there, "will be retried (this is normal for some cameras)"), unless the pull point has
        answered nothing for longer than the subscription lives: then it is taken as ended."""
        if silent > lives:
            raise DeviceError(f"its pull point answered nothing for {silent:.0f} s, longer "
                              f"than the subscription lives ({lives:g} s): every PullMessages "
                              "was closed unanswered or answered empty", self._device.name)
        if not told:
            log.info("device %s gives PullMessages no answer when it has nothing to send (%s): "
                     "taken as an empty pull", self._device.name, how)

    async def _renew(self, address: str, credentials: Credentials | None) -> float:
        """Renew; when to renew next. A device that refuses Renew (an ONVIF_IPNC F4G answers
        ResourceUnknown although the pull point lives on: home-assistant/core#81963; a Bosch
        FLEXIDOME rejects it: home-assistant/core#91089) keeps the pull point alive by
        PullMessages, ONVIF Core's default (9.1.1): the gateway pulls on and renews no more,
        and if the pull point did end, the next pull says so."""
        try:
            reply = await self._device.call_at(
                address, "subscription", "Renew", credentials,
                TerminationTime=duration(self._timing.lifetime))
        except DeviceFault as exc:
            log.info("device %s refuses Renew (%s): its pull point is kept alive by "
                     "PullMessages", self._device.name, exc.detail)
            return math.inf
        return self._clock() + life(reply, self._timing.lifetime) / 2

    async def _unsubscribe(self, address: str, credentials: Credentials | None) -> None:
        """Best effort: the subscription may be gone already, or the device away."""
        with contextlib.suppress(DeviceError, TimeoutError):
            async with asyncio.timeout(self._timing.unsubscribe_timeout):
                await self._device.call_at(address, "subscription", "Unsubscribe", credentials)


def repeated(event: Mapping[str, Any], values: dict[Any, Any]) -> bool:
    """Whether an event is an Initialized message telling a property's value that the
    subscription already told (a device tells them on subscribing and again at the
    synchronization point); notes what each property event tells."""
    operation = event.get("operation")
    if operation not in ("Initialized", "Changed", "Deleted"):
        return False
    key = property_key(event)
    if operation == "Deleted":
        values.pop(key, None)
        return False
    if operation == "Initialized" and values.get(key) == event["data"]:
        return True
    values[key] = event["data"]
    return False
