"""Events shared by several gateway instances through Redis (gateway.ini's redis_url).

- One subscription per device across instances: only the instance holding the device's lease
  (`events:lease:<device>`, set if absent, `event_lease` seconds long) subscribes, and renews
  the lease every third of it. Every instance whose clients listen to the device tries to take
  the lease as often; so when the holder dies, another one takes over within `event_lease` (and
  a third), and tells its clients: `subscription-lost`, then `subscription-restored`. A holder
  whose renewal fails (Redis unreachable, or not answering) keeps its subscription and tries
  again until the lease it holds runs out by its own clock, then unsubscribes: it counts the
  lease from before it asked, so it stops before Redis lets another instance take the lease,
  and it waits for an answer no longer than the lease it holds lasts. Its clients get
  `subscription-lost`, and `subscription-restored` once it reaches Redis again: when it holds
  the lease again, or reads the channel of the instance that took over (what changed meanwhile
  filled in from Redis). A holder that finds the lease taken unsubscribes at once; one whose
  clients all left unsubscribes and releases the lease for the next one.
- Events: the holder publishes each event (JSON, with its id) on one Redis channel; every
  instance keeps them in its per-device buffer and offers them to its clients, so an id from
  any instance resumes on any other (Last-Event-ID). The last value of each property also goes
  to a Redis hash, from which an instance that starts listening to a device fills in what it
  did not see (GET /events/state, the first events of a stream). The holder keeps the hash
  STATE_LEASES leases long at each renewal; once nobody holds the subscription it expires (a
  new subscription's Initialized events write it again), and it goes with its device.
- Sessions ended: a logout on one instance is announced on the channel (the hash of the
  session's token, its device and user name: never the token or the password), and every
  other instance drops at once what it holds of that session (its event streams end, its PTZ
  leases stop, its user's HTTP Digest answers go; gateway.web.handlers.session_ended).
- Webhooks: every instance runs every webhook (a registration or removal on one is announced
  to the others), and delivers only the events of its own subscriptions: each event is POSTed
  once, by the instance that got it from the device, and a device's events in order. Events an
  instance had not delivered yet when it died are lost.
- Stopping: every Redis call of this module goes through `redis_call`
  (gateway.state.redisstore), which raises again a cancel that redis-py lost (see there); what
  the instance says to Redis as it stops (the release of a lease) waits no longer than the
  lease, and close() waits for its tasks a few seconds at most: a gateway stops whatever Redis
  does (slow, restarted or gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.events.hub import EventHub, Sent
from gateway.events.model import gateway_event, property_key
from gateway.events.pullpoint import PullPointSubscription
from gateway.soap.device import DeviceClient
from gateway.state.redisstore import EVENT_STATE, PREFIX, redis_call

log = logging.getLogger(__name__)

CHANNEL: Final = PREFIX + "events"
LEASE: Final = PREFIX + "events:lease:"
STATE: Final = EVENT_STATE
# The properties' state lives this many leases after the holder last renewed its lease or wrote
# it: it was kept for ever, also for devices removed or no longer listened to.
STATE_LEASES: Final = 3
FORWARD_QUEUE: Final = 10_000  # events waiting to go to Redis; beyond, dropped (Redis is stuck)

# Take the lease if nobody holds it, or keep it (renew) if we do, and then keep the state of the
# device's properties (KEYS[2]) ARGV[3] ms more; answers the holder.
TAKE: Final = """
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return ARGV[1]
end
return holder
"""
# Give the lease up, if it is still ours.
RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
Errors = (RedisError, OSError)
UNAVAILABLE: Final = "the shared state store (Redis) is unavailable"
# How long close() waits for its tasks (cancelled) before it closes the connections anyway.
CLOSE_WITHIN: Final = 5.0


class SharedEvents:
    """The Redis side of the event hub: leases, the event channel, webhook and ended
    sessions' announcements."""

    def __init__(self, client: aioredis.Redis, hub: EventHub,
                 devices: Callable[[str], DeviceClient | None], lease: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = client
        self._hub = hub
        self._devices = devices  # a device by name (events of devices unknown here are dropped)
        self._lease = lease
        self._clock = clock  # when the leases this instance holds run out
        self.me = secrets.token_hex(8)  # this instance, as lease holder and message origin
        # The holder each device's lease had when this instance last tried to take it, until
        # that holder says it released the lease: a holder that went silently was lost.
        self._holders: dict[str, str] = {}
        self._outbox: asyncio.Queue[tuple[str, Sent]] = asyncio.Queue(FORWARD_QUEUE)
        self._tasks: list[asyncio.Task[None]] = []
        self._reading = asyncio.Event()  # the other instances' events come in (the channel)
        self._take = client.register_script(TAKE)
        self._release = client.register_script(RELEASE)
        # Called when another instance added or removed a webhook (set by the app).
        self.webhooks_changed: Callable[[], Awaitable[None]] | None = None
        # Called when a session ended on another instance: its token's hash, device, user.
        self.session_ended: Callable[[bytes, str, str], Awaitable[None]] | None = None

    async def open(self) -> None:
        """Start reading the channel and writing to it; become the hub's relay."""
        self._hub.relay = self
        self._tasks = [asyncio.create_task(self._read(), name="events from redis"),
                       asyncio.create_task(self._write(), name="events to redis")]

    async def close(self) -> None:
        """Stop reading and writing the channel (events not written yet are not shared), then
        close the connections; a task that has not stopped within CLOSE_WITHIN is left, said in
        the log."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=CLOSE_WITHIN)
            if pending:
                log.warning("shared events: %s did not stop within %g s, closing Redis anyway",
                            ", ".join(sorted(task.get_name() for task in pending)), CLOSE_WITHIN)
        await self._redis.aclose()

    # the lease

    async def hold(self, device: str, subscription: PullPointSubscription,
                   synced: asyncio.Event) -> None:
        """Compete for the device's lease every third of it; run the subscription while this
        instance holds it, else fill in the properties' state from Redis. Until cancelled."""
        key = LEASE + device
        running: asyncio.Task[None] | None = None
        until = 0.0  # when the lease this instance holds runs out, by its clock
        filled = restoring = False
        try:
            while True:
                if running is not None and self._clock() >= until:  # not renewed in time
                    await _halt(running)
                    running = None
                    restoring = restoring or self._lost(device, UNAVAILABLE)
                    filled = False  # what changed meanwhile is filled in from the next holder
                asked = self._clock()  # a holder waits for Redis no longer than its lease lasts
                holder = await self._try(key, STATE + device,
                                         self._lease if running is None else until - asked)
                if holder == self.me:
                    until = asked + self._lease  # Redis counts from later: it runs out after
                    if running is None or running.done():
                        if self._lapsed(device) and not restoring:
                            restoring = self._lost(device, "the gateway instance that held "
                                                   "it went away")
                        synced.clear()
                        running = asyncio.create_task(subscription.run(),
                                                      name=f"events {device} (lease)")
                    self._holders[device] = self.me
                    if restoring and synced.is_set():
                        restoring = False
                        self._hub.publish(device, gateway_event(
                            device, "SubscriptionRestored", "subscription-restored"))
                elif holder is None:
                    if running is not None:  # kept until the lease runs out: Redis may be back
                        log.warning("device %s: events lease not renewed (%s): the subscription "
                                    "is kept until the lease runs out", device, UNAVAILABLE)
                else:
                    if running is not None:  # taken over: the holder's events go on
                        await _halt(running)
                        running = None
                    self._holders[device] = holder
                    if not filled:
                        filled = await self._fill(device)
                        if filled:
                            synced.set()
                    if restoring and filled and self._reading.is_set():
                        # this instance lost the lease with Redis: its clients have the
                        # holder's events again (they were told subscription-lost)
                        restoring = False
                        self._hub.publish(device, gateway_event(
                            device, "SubscriptionRestored", "subscription-restored"))
                tick = self._lease / 3
                await asyncio.sleep(tick if running is None else min(tick, until - self._clock()))
        finally:
            if running is not None:
                await _halt(running)  # Unsubscribe first, then let the next instance in
            # No longer than the lease: by then it has run out anyway (a gateway that stops
            # while Redis hangs does not wait for it).
            with contextlib.suppress(*Errors):
                async with asyncio.timeout(self._lease):
                    if await redis_call(self._release(keys=[key], args=[self.me])):
                        await redis_call(self._redis.publish(CHANNEL, json.dumps(
                            {"origin": self.me, "released": device})))

    async def _try(self, key: str, state: str, within: float) -> str | None:
        """The lease's holder after trying to take (or renew) it; None when Redis fails or
        does not answer within `within` seconds."""
        lease = int(self._lease * 1000)
        try:
            async with asyncio.timeout(within):
                return str(await redis_call(self._take(
                    keys=[key, state], args=[self.me, lease, STATE_LEASES * lease])))
        except Errors:  # TimeoutError is an OSError
            return None

    def _lost(self, device: str, reason: str) -> bool:
        """Tell the device's clients that its events stopped for a while."""
        log.warning("device %s: events subscription lost: %s", device, reason)
        self._hub.publish(device, gateway_event(device, "SubscriptionLost", "subscription-lost",
                                                reason=reason))
        return True

    def _lapsed(self, device: str) -> bool:
        """Whether the lease last belonged to another instance that did not release it."""
        return self._holders.get(device, self.me) != self.me

    async def _fill(self, device: str) -> bool:
        """Take the last value of each property from Redis (what the holder saw)."""
        client = self._devices(device)
        if client is None:
            return False
        try:
            kept = await redis_call(self._redis.hgetall(STATE + device))
        except Errors:
            return False
        for value in kept.values():
            event_id, event = json.loads(value)
            self._hub.receive(client, (event_id, event, json.dumps(event)))
        return True

    # the channel

    def forward(self, device: str, sent: Sent) -> None:
        """Queue an event of this instance's subscription for the other instances."""
        try:
            self._outbox.put_nowait((device, sent))
        except asyncio.QueueFull:
            log.warning("device %s: event %s not shared, Redis does not keep up", device, sent[0])

    async def _write(self) -> None:
        """Publish queued events in order, each with its property's new state, many at once."""
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 100:
                batch.append(self._outbox.get_nowait())
            pipe = self._redis.pipeline(transaction=True)
            for device, (event_id, event, _) in batch:
                pipe.publish(CHANNEL, json.dumps({"origin": self.me, "device": device,
                                                  "id": event_id, "event": event}))
                if event.get("operation") in ("Initialized", "Changed"):
                    pipe.hset(STATE + device, json.dumps(property_key(event)),
                              json.dumps([event_id, event]))
                    pipe.pexpire(STATE + device, int(STATE_LEASES * self._lease * 1000))
                elif event.get("operation") == "Deleted":
                    pipe.hdel(STATE + device, json.dumps(property_key(event)))
            try:
                await redis_call(pipe.execute())
            except Errors as exc:
                log.warning("%d events not shared: Redis unavailable (%s)", len(batch),
                            type(exc).__name__)

    async def _read(self) -> None:
        """Hand the other instances' events to the hub; reconnect when Redis comes back."""
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await redis_call(pubsub.subscribe(CHANNEL))
                self._reading.set()
                while True:
                    message = await redis_call(pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=1.0))
                    if message is not None:
                        self._received(message["data"])
            except Errors as exc:
                log.warning("events from other instances: Redis unavailable (%s)",
                            type(exc).__name__)
            finally:
                self._reading.clear()
                with contextlib.suppress(*Errors):
                    async with asyncio.timeout(CLOSE_WITHIN):
                        await redis_call(pubsub.aclose())  # type: ignore[no-untyped-call]
            await asyncio.sleep(1)

    def _received(self, data: str) -> None:
        try:
            message = json.loads(data)
            if message["origin"] == self.me:
                return
            if "released" in message:
                if self._holders.get(message["released"]) == message["origin"]:
                    del self._holders[message["released"]]
            elif "webhooks" in message:
                if self.webhooks_changed is not None:
                    self._spawn(self.webhooks_changed())
            elif "ended" in message:
                ended = message["ended"]
                if self.session_ended is not None:
                    self._spawn(self.session_ended(bytes.fromhex(ended["session"]),
                                                   str(ended["device"]), str(ended["user"])))
            else:
                client = self._devices(message["device"])
                if client is not None:
                    event = message["event"]
                    self._hub.receive(client, (str(message["id"]), event, json.dumps(event)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("an unreadable message on %s: %r", CHANNEL, exc)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("acting on another instance's announcement failed")

        task = asyncio.create_task(run())
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    # webhooks

    async def announce_webhooks(self) -> None:
        """Tell the other instances that the webhooks changed (they read them again)."""
        with contextlib.suppress(*Errors):
            await redis_call(self._redis.publish(CHANNEL, json.dumps({"origin": self.me,
                                                                      "webhooks": 1})))

    # sessions

    async def announce_session_ended(self, key: bytes, device: str, username: str) -> None:
        """Tell the other instances that a session ended (by its token's hash)."""
        ended = {"session": key.hex(), "device": device, "user": username}
        with contextlib.suppress(*Errors):
            await redis_call(self._redis.publish(CHANNEL, json.dumps({"origin": self.me,
                                                                      "ended": ended})))


async def _halt(task: asyncio.Task[None]) -> None:
    """Cancel a subscription and wait for it (it Unsubscribes); a cancel of the caller meanwhile
    stays the caller's."""
    task.cancel()
    await asyncio.wait([task])
