"""The event hub: one subscription per device, fanned out to every client that listens.

A device's subscription runs while at least one client listens to it (and `linger` seconds
after the last one leaves, so that a reconnecting client does not cost the camera a new pull
point). Each event gets an id (`<epoch>-<n>`, epoch changing with every start of the gateway), goes
into a bounded per-device buffer (what Last-Event-ID resumes from) and into the bounded queue of
every listener whose topic filter it passes. A listener whose queue is full is disconnected alone,
with a last event saying why: a slow client never slows the device loop or the other clients.

With Redis (several gateway instances), a Relay (gateway/events/shared.py) runs each
subscription only where the device's lease is held, sends this instance's events to the others and
hands theirs to receive(): they keep the id their instance gave them.

The subscription uses the device's service account (gateway.ini) when it has one, else the
credentials of one of the users listening (the first still there when it subscribes). They are
only ever sent to that device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.credentials import Credentials
from gateway.events.model import TopicFilter, gateway_event, property_key
from gateway.events.pullpoint import PullPointSubscription, Timing
from gateway.soap.device import DeviceClient

# Why a stream ended with its session (the `disconnected` event's reason).
SESSION_ENDED = "the session ended (logged out, or expired); log in again"

# An event as it is sent: its id, the event, and its JSON (encoded once for every client).
Sent = tuple[str, dict[str, Any], str]


class Relay(Protocol):
    """Shares subscriptions and events with other gateway instances (gateway/events/shared.py)."""

    def hold(self, device: str, subscription: PullPointSubscription,
             synced: asyncio.Event) -> Coroutine[Any, Any, None]:
        """Run the device's subscription while this instance holds its lease; until cancelled."""

    def forward(self, device: str, sent: Sent) -> None:
        """Send an event of this instance's subscription to the other instances."""


@dataclass(frozen=True)
class EventSettings:
    """gateway.ini's [gateway] event_* settings."""

    buffer: int = 1000  # events kept per device for Last-Event-ID
    client_queue: int = 1000  # events waiting for one client before it is disconnected
    linger: float = 5.0  # seconds a subscription outlives its last listener
    timing: Timing = field(default_factory=Timing)


class Listener:
    """One client: the devices it listens to, its filter, its bounded queue, and the sessions
    it listens with (the hashes of their tokens): the stream ends when one of them does."""

    def __init__(self, devices: tuple[str, ...], topics: TopicFilter, size: int,
                 sessions: frozenset[bytes] = frozenset()) -> None:
        self.devices = devices
        self.topics = topics
        self.sessions = sessions
        self.queue: asyncio.Queue[Sent] = asyncio.Queue(maxsize=size)
        # Set when the gateway ended the stream (too slow, shutting down); its last event
        # says why and is the only one left in the queue.
        self.ended = asyncio.Event()

    def offer(self, sent: Sent) -> bool:
        """Queue an event; False when the queue is full (the client does not keep up)."""
        if self.ended.is_set() or not self.topics.matches(sent[1]):
            return True
        try:
            self.queue.put_nowait(sent)
        except asyncio.QueueFull:
            return False
        return True

    def end(self, last: Sent) -> None:
        """Drop what is queued, queue the last event, and mark the stream ended."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(last)
        self.ended.set()


@dataclass(eq=False)
class Channel:
    """One device: its buffer, the last value of each property, listeners, subscription."""

    device: DeviceClient
    buffer: deque[tuple[int, Sent]]
    state: dict[Any, tuple[int, Sent]] = field(default_factory=dict)
    listeners: dict[Listener, Credentials] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    stopping: asyncio.Task[None] | None = None
    linger: asyncio.TimerHandle | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)


class EventHub:
    """Every device's channel; listen() and leave() start and stop subscriptions."""

    def __init__(self, settings: EventSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock  # when subscriptions are renewed
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._channels: dict[str, Channel] = {}
        self._listeners: set[Listener] = set()
        self.relay: Relay | None = None  # with Redis: set before the first listener

    def _channel(self, device: DeviceClient) -> Channel:
        channel = self._channels.get(device.name)
        if channel is None or channel.device is not device:  # a device removed and added again
            channel = self._channels[device.name] = Channel(
                device, deque(maxlen=self.settings.buffer))
        return channel

    def subscribed(self, name: str) -> bool:
        """Whether the gateway holds (or is getting) a subscription for the device."""
        channel = self._channels.get(name)
        return channel is not None and channel.task is not None and not channel.task.done()

    def synced(self, name: str) -> bool:
        """Whether the device's current subscription has pulled once (its Initialized
        messages are in)."""
        channel = self._channels.get(name)
        return channel is not None and self.subscribed(name) and channel.synced.is_set()

    # listeners

    def listen(self, devices: Iterable[tuple[DeviceClient, Credentials]], topics: TopicFilter,
               last_event_id: str | None = None, sessions: frozenset[bytes] = frozenset(),
               ) -> tuple[Listener, list[Sent]]:
        """Register a client (listening with these sessions); returns it and what it gets
        first: the buffered events after last_event_id (all of them when the id is from an
        earlier run of the gateway), or without an id the last event of each property, as a
        new subscription would."""
        pairs = list(devices)
        listener = Listener(tuple(d.name for d, _ in pairs), topics, self.settings.client_queue,
                            sessions)
        channels = [self._channel(device) for device, _ in pairs]
        after = self._parse_id(last_event_id, channels)
        replay: list[tuple[int, Sent]] = []
        for channel, (_, credentials) in zip(channels, pairs, strict=True):
            if after is not None:
                replay += [(n, s) for n, s in channel.buffer if n > after and topics.matches(s[1])]
            else:
                replay += [(n, s) for n, s in channel.state.values() if topics.matches(s[1])]
            channel.listeners[listener] = credentials
            if channel.linger is not None:
                channel.linger.cancel()
                channel.linger = None
            if channel.task is None:
                self._start(channel)
        self._listeners.add(listener)
        return listener, [sent for _, sent in sorted(replay, key=lambda pair: pair[0])]

    def originated(self, event_id: str) -> bool:
        """Whether an event came from this instance's subscription (not through Redis)."""
        return event_id.partition("-")[0] == self.epoch

    def _parse_id(self, last_event_id: str | None, channels: list[Channel]) -> int | None:
        if not last_event_id:
            return None
        epoch, _, number = last_event_id.strip().partition("-")
        if epoch == self.epoch:
            return int(number) if number.isdigit() else None
        # Another instance's id (with Redis) is found where this one keeps it; an id from
        # before a restart is nowhere: everything kept is new to the client.
        for channel in channels:
            for n, sent in channel.buffer:
                if sent[0] == last_event_id.strip():
                    return n
        return 0

    def leave(self, listener: Listener) -> None:
        """Unregister a client; a device nobody listens to any more is unsubscribed soon."""
        self._listeners.discard(listener)
        for name in listener.devices:
            channel = self._channels.get(name)
            if channel is None or channel.listeners.pop(listener, None) is None:
                continue
            if not channel.listeners and channel.task is not None:
                if self.settings.linger > 0:
                    channel.linger = asyncio.get_running_loop().call_later(
                        self.settings.linger, self._stop_idle, channel)
                else:
                    self._stop(channel)

    def _stop_idle(self, channel: Channel) -> None:
        channel.linger = None
        if not channel.listeners:
            self._stop(channel)

    # subscriptions

    def _start(self, channel: Channel) -> None:
        previous, channel.stopping = channel.stopping, None
        channel.synced.clear()
        subscription = PullPointSubscription(
            channel.device, lambda: self._credentials(channel),
            lambda event: self.publish(channel.device.name, event),
            channel.synced.set, self.settings.timing, self._clock)

        async def run() -> None:
            if previous is not None:  # its Unsubscribe first: never two pull points at once
                await asyncio.wait([previous])  # (a cancel of this task stays with this task)
            if self.relay is None:
                await subscription.run()
            else:
                await self.relay.hold(channel.device.name, subscription, channel.synced)

        channel.task = asyncio.create_task(run(), name=f"events {channel.device.name}")

    def _stop(self, channel: Channel) -> None:
        if channel.task is not None:
            channel.task.cancel()
            channel.stopping, channel.task = channel.task, None

    def _credentials(self, channel: Channel) -> Credentials | None:
        service = channel.device.service_credentials
        if service is not None:
            return service
        return next(iter(channel.listeners.values()), None)

    # events

    def publish(self, device: str, event: dict[str, Any]) -> None:
        """Number an event, keep it, and offer it to every listener of its device."""
        channel = self._channels.get(device)
        if channel is None:
            return
        self._seq += 1
        sent = (f"{self.epoch}-{self._seq}", event, json.dumps(event))
        self._keep(channel, sent)
        if self.relay is not None:
            self.relay.forward(device, sent)

    def receive(self, device: DeviceClient, sent: Sent) -> None:
        """Keep and offer an event of another instance's subscription (with its id). The last
        value of a property that is here already (filled in from Redis, then received) is not
        sent twice."""
        channel = self._channel(device)
        if sent[1].get("operation") in ("Initialized", "Changed"):
            kept = channel.state.get(property_key(sent[1]))
            if kept is not None and kept[1][0] == sent[0]:
                return
        self._seq += 1
        self._keep(channel, sent)

    def _keep(self, channel: Channel, sent: Sent) -> None:
        """Buffer an event (numbered self._seq here), note its property, offer it."""
        event = sent[1]
        channel.buffer.append((self._seq, sent))
        if event.get("operation") in ("Initialized", "Changed"):
            channel.state[property_key(event)] = (self._seq, sent)
        elif event.get("operation") == "Deleted":
            channel.state.pop(property_key(event), None)
        for listener in list(channel.listeners):
            if not listener.offer(sent):
                self._drop(listener, channel.device.name)

    def _drop(self, listener: Listener, device: str) -> None:
        reason = (f"the client did not keep up: {listener.queue.maxsize} events were waiting "
                  "for it")
        self._end(listener, gateway_event(device, "Disconnected", "disconnected", reason=reason))

    def end_session(self, key: bytes) -> int:
        """End the streams of a session that ended (its token's hash): a logout, here or on
        another instance. How many there were."""
        ended = [listener for listener in self._listeners if key in listener.sessions]
        for listener in ended:
            self.disconnect(listener, SESSION_ENDED)
        return len(ended)

    def disconnect(self, listener: Listener, reason: str) -> None:
        """End a client's stream, its last event (`disconnected`) saying why."""
        name = listener.devices[0] if listener.devices else ""
        self._end(listener, gateway_event(name, "Disconnected", "disconnected", reason=reason))

    def _end(self, listener: Listener, event: dict[str, Any]) -> None:
        self.leave(listener)
        listener.end(("", event, json.dumps(event)))

    async def state(self, devices: Iterable[tuple[DeviceClient, Credentials]],
                    wait: float) -> list[dict[str, Any]]:
        """The last value of each property of these devices. A device nobody listens to is
        subscribed to for the moment (up to `wait` seconds for its Initialized messages)."""
        pairs = list(devices)
        listener, _ = self.listen(pairs, TopicFilter(None))
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    for device, _ in pairs:
                        await self._channels[device.name].synced.wait()
        finally:
            self.leave(listener)
        return [sent[1] for device, _ in pairs
                for _, sent in self._channels[device.name].state.values()]

    async def close(self) -> None:
        """End every stream and every subscription (each Unsubscribes)."""
        for listener in list(self._listeners):
            self.disconnect(listener, "the gateway is shutting down")
        tasks = []
        for channel in self._channels.values():
            if channel.linger is not None:
                channel.linger.cancel()
            self._stop(channel)
            if channel.stopping is not None:
                tasks.append(channel.stopping)
        await asyncio.gather(*tasks, return_exceptions=True)
