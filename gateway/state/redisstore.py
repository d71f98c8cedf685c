"""The shared stores in Redis, for several gateway instances behind one load balancer.

- Sessions: one key per session, named by a hash of its token, expiring by itself (Redis TTL).
  Passwords never go to Redis in the clear: the user's password (which the session needs to call
  the device as that user) is sealed with AES-GCM under a key derived from the token, which only
  the client holds. What Redis holds is useless without the token.
- Policy and runtime devices: hashes and sets; each change is one atomic Redis command or a
  MULTI/EXEC transaction, so it is whole whichever instance makes it.
- Each device has a version counter, bumped by every write to it, so that every instance's read
  cache can tell an entry is stale.
- Login guesses (gateway.logins.SharedGuesses): counted for all instances, locks included.
- Leases of device actions (gateway.leases.SharedLeases): whose each lease is, one key each,
  when each ends and how to stop it, and which instances live (so that a live one stops what a
  dead one held).

Redis unreachable: every call raises StoreUnavailable (503), and redis-py reconnects by itself
once Redis is back.

Every Redis call of the gateway (these stores, gateway.events.shared) is awaited through
`redis_call`, which raises again a cancel that redis-py lost (see there).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import redis.asyncio as aioredis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from gateway.credentials import Credentials
from gateway.errors import StoreUnavailable
from gateway.state.sessions import Session, forget_token, new_token, owners, token_key

log = logging.getLogger(__name__)

PREFIX = "onvif-gateway:"
# The last value of each event property of a device (gateway.events.shared writes it); it goes
# with its device, and expires once no instance holds the device's subscription.
EVENT_STATE = PREFIX + "events:state:"


# Connections to Redis per instance. redis-py's default pool refuses a command beyond its
# connections at once (MaxConnectionsError, a 503 to the client); a blocking pool makes it wait
# for one instead.
REDIS_CONNECTIONS = 64
T = TypeVar("T")


def connect(url: str, wait: float = 10.0) -> aioredis.Redis:
    """A Redis client that gives up quickly on a dead Redis, so that is a fast 503, not a hang.

    A command that finds every connection busy waits for one up to `wait` seconds (the gateway
    gives its device_timeout, as long as a request waits for one of a device's connections).
    A busy pool says nothing about Redis: each connection in use is released within the 2 s a
    command or a connection attempt may take, and against a dead Redis sooner (refused). The
    pool's wait used to be 2 s too: a burst of 300 requests on a loaded machine queued longer
    than that behind the pool's 64 connections (the first of them opened then), and some got a
    503 "No connection available." from a Redis that answered everything it was asked.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=REDIS_CONNECTIONS, timeout=wait, decode_responses=True,
        socket_timeout=2, socket_connect_timeout=2,
        # Once Redis is back after an outage (a restart, a network cut), every connection the
        # pool kept from before is closed at Redis's end, and a call on one failed ("Connection
        # closed by server"): an events lease holder's renewals, one every third of the lease,
        # each found such a connection and the holder lost its lease with Redis up again. A
        # call that could not reach Redis is made again once, on a new connection; one that
        # Redis does not answer in time (TimeoutError) is not: that would double its wait.
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_error=[RedisConnectionError])
    return aioredis.Redis.from_pool(pool)  # closed with the client


async def redis_call(call: Awaitable[T]) -> T:
    """Await a Redis call; a cancel of the calling task that the call lost is raised again.

    redis-py sends each command under asyncio.wait_for (it has a socket_timeout), which on
    Python 3.11 returns the send's result when the task is cancelled just as the send ends
    (CPython gh-86296, fixed in 3.12): the task's cancel count says it was cancelled, but it
    goes on. The writer of the event channel, cancelled once as the gateway stopped, then
    waited for its next event for ever, and so did the gateway's shutdown (a test run hung in
    the teardown of a gateway whose events were still going to Redis; a cancel of a task in a
    loop of Redis calls was lost one time in four on this machine, of a loop of these stores'
    calls 8 times in 30)."""
    task = asyncio.current_task()
    cancels = task.cancelling() if task is not None else 0
    result = await call
    if task is not None and task.cancelling() > cancels:
        raise asyncio.CancelledError
    return result


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(f"the shared state store (Redis) is unavailable: "
                               f"{type(exc).__name__}") from exc


def _seal_key(token: str) -> AESGCM:
    # A different derivation from the key the session is stored under, so that the stored name
    # says nothing about the sealing key.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"onvif-gateway session credentials").derive(token.encode())
    return AESGCM(key)


class RedisSessions:
    """Sessions in Redis: any instance serves any token; ending one ends it everywhere."""

    def __init__(self, client: aioredis.Redis, idle_timeout: float, max_age: float,
                 per_user: int = 100, per_address: int = 1_000,
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._idle = idle_timeout
        self._max_age = max_age
        self._limits = {"user": per_user, "address": per_address}
        self._clock = clock

    @staticmethod
    def _key(token: str) -> str:
        return PREFIX + "session:" + token_key(token).hex()

    @staticmethod
    def _owned(owner: tuple[str, ...]) -> str:
        """A sorted set of the session keys of an owner (a user, an address, a device), by
        creation time; its members may outlive their sessions (they are dropped when seen)."""
        return PREFIX + "owned:" + json.dumps(owner)

    async def create(self, device: str, credentials: Credentials, level: str | None,
                     address: str) -> str:
        token = new_token()
        nonce = os.urandom(12)
        sealed = _seal_key(token).encrypt(nonce, credentials.password.encode(), None)
        now = self._clock()
        record = {
            "device": device, "username": credentials.username, "level": level,
            "created": now, "address": address,
            "password": base64.b64encode(nonce + sealed).decode(),
        }
        key = self._key(token)
        capped = owners(device, credentials, address)
        async with _redis_errors():
            async with self._redis.pipeline(transaction=True) as tx:
                tx.set(key, json.dumps(record), px=int(min(self._idle, self._max_age) * 1000))
                for owner in [*capped, ("device", device)]:
                    tx.zadd(self._owned(owner), {key: now})
                    tx.zremrangebyscore(self._owned(owner), "-inf", now - self._max_age)
                    tx.pexpire(self._owned(owner), int(self._max_age * 1000))
                await redis_call(tx.execute())
            for owner in capped:
                await self._trim(self._owned(owner), self._limits[owner[0]])
        return token

    async def _trim(self, owned: str, limit: int) -> None:
        """End an owner's oldest sessions past its limit (forgetting those already ended)."""
        if await redis_call(self._redis.zcard(owned)) <= limit:
            return
        keys = [str(key) for key in await redis_call(self._redis.zrange(owned, 0, -1))]
        async with self._redis.pipeline(transaction=False) as exist:
            for key in keys:
                exist.exists(key)
            alive = await redis_call(exist.execute())
        gone = [key for key, n in zip(keys, alive, strict=True) if not n]
        live = [key for key, n in zip(keys, alive, strict=True) if n]
        ending = live[:max(0, len(live) - limit)]  # the oldest of this owner's own
        if gone or ending:
            async with self._redis.pipeline(transaction=True) as tx:
                tx.zrem(owned, *gone, *ending)
                if ending:
                    tx.delete(*ending)
                await redis_call(tx.execute())

    async def end_device(self, device: str) -> list[tuple[bytes, str]]:
        owned = self._owned(("device", device))
        async with _redis_errors():
            keys = [str(key) for key in await redis_call(self._redis.zrange(owned, 0, -1))]
            async with self._redis.pipeline(transaction=True) as tx:
                if keys:
                    tx.mget(keys)
                    tx.delete(*keys)
                tx.delete(owned)
                records = (await redis_call(tx.execute()))[0] if keys else []
        return [(bytes.fromhex(key.removeprefix(PREFIX + "session:")),
                 json.loads(raw)["username"]) for key, raw in zip(keys, records, strict=True)
                if raw is not None]

    async def get(self, token: str) -> Session | None:
        key = self._key(token)
        async with _redis_errors():
            # used now: it lives idle_timeout more (one round trip: read and extend together)
            async with self._redis.pipeline(transaction=False) as both:
                both.get(key)
                both.pexpire(key, int(self._idle * 1000))
                raw, _ = await redis_call(both.execute())
            if raw is None:
                forget_token(token)
                return None
            record = json.loads(raw)
            left = record["created"] + self._max_age - self._clock()
            if left <= 0:
                await redis_call(self._redis.delete(key))
                forget_token(token)
                return None
            if left < self._idle:  # ...but never past its max_age
                await redis_call(self._redis.pexpire(key, int(left * 1000)))
        blob = base64.b64decode(record["password"])
        password = _seal_key(token).decrypt(blob[:12], blob[12:], None).decode()
        return Session(record["device"], Credentials(record["username"], password),
                       record["level"], self._clock(), record.get("address", ""))

    async def end(self, token: str) -> bool:
        async with _redis_errors():
            ended = bool(await redis_call(self._redis.delete(self._key(token))))
        forget_token(token)
        return ended

    async def count(self) -> int:
        counted, cursor = 0, 0
        async with _redis_errors():
            while True:  # SCAN, each step through redis_call (scan_iter's would not be)
                cursor, keys = await redis_call(self._redis.scan(cursor, PREFIX + "session:*",
                                                                 count=1000))
                counted += len(keys)
                if not cursor:
                    return counted


class RedisPolicyStore:
    """The policy store (gateway.state.store.PolicyStore's interface) in Redis."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def open(self) -> None:
        async with _redis_errors():
            await redis_call(self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()

    @staticmethod
    def _enabled(device: str, policy: str) -> str:
        return f"{PREFIX}enabled:{device}:{policy}"

    async def enabled(self, device: str, policy: str) -> dict[str, int]:
        async with _redis_errors():
            values = await redis_call(self._redis.hgetall(self._enabled(device, policy)))
        return {str(name): int(flag) for name, flag in values.items()}

    async def set_enabled(self, device: str, policy: str, values: Mapping[str, int]) -> None:
        if not values:
            return
        async with _redis_errors(), self._redis.pipeline(transaction=True) as tx:
            tx.hset(self._enabled(device, policy), mapping={k: v for k, v in values.items()})
            tx.sadd(f"{PREFIX}policies:{device}", policy)
            tx.incr(f"{PREFIX}version:{device}")
            await redis_call(tx.execute())

    async def owned_profiles(self, device: str) -> set[str]:
        async with _redis_errors():
            tokens = await redis_call(self._redis.smembers(f"{PREFIX}profiles:{device}"))
        return {str(token) for token in tokens}

    async def add_profile(self, device: str, token: str) -> None:
        async with _redis_errors():
            await redis_call(self._redis.sadd(f"{PREFIX}profiles:{device}", token))

    async def remove_profile(self, device: str, token: str) -> None:
        async with _redis_errors():
            await redis_call(self._redis.srem(f"{PREFIX}profiles:{device}", token))

    async def devices(self) -> dict[str, str]:
        async with _redis_errors():
            stored = await redis_call(self._redis.hgetall(f"{PREFIX}devices"))
        return {str(name): str(url) for name, url in sorted(stored.items())}

    async def device(self, name: str) -> str | None:
        async with _redis_errors():
            url = await redis_call(self._redis.hget(f"{PREFIX}devices", name))
        return None if url is None else str(url)

    async def add_device(self, name: str, url: str) -> bool:
        """Whether it was added (False: another instance has added one of that name)."""
        async with _redis_errors():
            return bool(await redis_call(self._redis.hsetnx(f"{PREFIX}devices", name, url)))

    async def remove_device(self, name: str) -> None:
        async with _redis_errors():
            policies = await redis_call(self._redis.smembers(f"{PREFIX}policies:{name}"))
            async with self._redis.pipeline(transaction=True) as tx:
                tx.hdel(f"{PREFIX}devices", name)
                tx.delete(f"{PREFIX}profiles:{name}", f"{PREFIX}policies:{name}",
                          EVENT_STATE + name,
                          *(self._enabled(name, str(policy)) for policy in policies))
                tx.incr(f"{PREFIX}version:{name}")
                await redis_call(tx.execute())

    async def webhooks(self) -> dict[str, str]:
        async with _redis_errors():
            stored = await redis_call(self._redis.hgetall(f"{PREFIX}webhooks"))
        return {str(webhook_id): str(record) for webhook_id, record in sorted(stored.items())}

    async def add_webhook(self, webhook_id: str, record: str) -> None:
        async with _redis_errors():
            await redis_call(self._redis.hset(f"{PREFIX}webhooks", webhook_id, record))

    async def remove_webhook(self, webhook_id: str) -> bool:
        async with _redis_errors():
            return bool(await redis_call(self._redis.hdel(f"{PREFIX}webhooks", webhook_id)))

    async def version(self, device: str) -> int:
        async with _redis_errors():
            return int(await redis_call(self._redis.get(f"{PREFIX}version:{device}")) or 0)

    async def bump(self, device: str) -> None:
        async with _redis_errors():
            await redis_call(self._redis.incr(f"{PREFIX}version:{device}"))




GUESSES = PREFIX + "login-guesses:"  # a hash per key: failures per user, "" the turns in flight
LOCKED = PREFIX + "login-locked:"  # a key locked out, expiring with its lockout
# KEYS: each key's guesses, then each key's lock; ARGV: limit, window ms. Returns 1 and the
# turn taken, or 0 and the ms each key is locked for.
GUESS_TAKE = """
local n = #KEYS / 2
local locked, refused = {}, false
for i = 1, n do
  locked[i] = math.max(redis.call('PTTL', KEYS[n + i]), 0)
  if locked[i] > 0 then refused = true end
  local spent = 0
  for _, count in ipairs(redis.call('HVALS', KEYS[i])) do spent = spent + tonumber(count) end
  if spent >= tonumber(ARGV[1]) then refused = true end
end
if refused then return {0, unpack(locked)} end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], '', 1)
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return {1}
"""
# KEYS: as GUESS_TAKE; ARGV: user, outcome (failed, succeeded, abandoned), limit, lockout ms.
GUESS_END = """
local n = #KEYS / 2
for i = 1, n do
  local flying = math.max(redis.call('HINCRBY', KEYS[i], '', -1), 0)
  redis.call('HSET', KEYS[i], '', flying)
  if ARGV[2] == 'failed' then
    redis.call('HINCRBY', KEYS[i], ARGV[1], 1)
    local failures = 0
    local all = redis.call('HGETALL', KEYS[i])
    for j = 1, #all, 2 do
      if all[j] ~= '' then failures = failures + tonumber(all[j + 1]) end
    end
    if failures >= tonumber(ARGV[3]) then
      redis.call('SET', KEYS[n + i], '1', 'PX', ARGV[4])
      redis.call('DEL', KEYS[i])
      redis.call('HSET', KEYS[i], '', flying)
    end
  elseif ARGV[2] == 'succeeded' then
    redis.call('HDEL', KEYS[i], ARGV[1])
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
"""
OUTCOMES = {True: "failed", False: "succeeded", None: "abandoned"}


class RedisGuesses:
    """The login guesses of every instance (gateway.logins.SharedGuesses) in Redis: each
    key's failures per user and turns in flight in one hash, its lock in a key of its own; each
    change one script. A turn of an instance that died before its end is given back when its
    key expires (login_lockout seconds after its last use)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._take = client.register_script(GUESS_TAKE)
        self._end = client.register_script(GUESS_END)

    @staticmethod
    def _keys(keys: Sequence[str]) -> list[str]:
        return [GUESSES + key for key in keys] + [LOCKED + key for key in keys]

    async def take(self, keys: Sequence[str], limit: int, window: float) -> list[float] | None:
        async with _redis_errors():
            taken, *locked = await redis_call(self._take(
                keys=self._keys(keys), args=[limit, int(window * 1000)]))
        return None if taken else [ms / 1000 for ms in locked]

    async def end(self, keys: Sequence[str], user: str, failed: bool | None, limit: int,
                  lockout: float) -> None:
        async with _redis_errors():
            await redis_call(self._end(keys=self._keys(keys), args=[
                user, OUTCOMES[failed], limit, int(lockout * 1000)]))

# A lease's note outlives the lease this much (its instance's timer may fire late); one whose
# instance died is forgotten then.
LEASE_NOTE_MARGIN = 60.0
SUPERSEDED = "superseded"
TAKEN_OVER = "taken-over"  # another instance stopped the lease's action: its holder was gone
# When each lease noted by a holder ends (Redis's clock, ms), and the stop its action needs (a
# text that its instance wrote), by the lease's key; forgotten with the holder's note.
LEASE_ENDS = PREFIX + "lease-ends"
LEASE_STOPS = PREFIX + "lease-stops"
LEASE = PREFIX + "lease:"
INSTANCE = PREFIX + "instance:"  # an instance that lives, by its holder name (expiring)
# Redis's clock in a script that writes after reading it: Redis 5 or later (scripts' effects
# replicated).
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
# KEYS: the note, LEASE_ENDS, LEASE_STOPS; ARGV: holder, lease ms, note ms, the lease's key,
# its stop.
LEASE_TAKE = _NOW + """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
"""
# KEYS: the note, LEASE_ENDS, LEASE_STOPS; ARGV: note ms, the lease's key.
LEASE_SUPERSEDE = """
redis.call('SET', KEYS[1], '""" + SUPERSEDED + """', 'PX', ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
"""
# Whether ARGV[1] still holds KEYS[1] (then forgotten), or Redis has no note of it at all: 1;
# another holder, a newer command or a takeover: 0. KEYS: the note, LEASE_ENDS, LEASE_STOPS;
# ARGV: holder, the lease's key.
LEASE_ENDED = """
local noted = redis.call('GET', KEYS[1])
if noted == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
if not noted then return 1 end
return 0
"""
# Note that ARGV[1] lives (ARGV[2] ms), then claim every lease that has ended while its holder
# does not live: forgotten, its note says it was taken over, and its key and stop are returned
# (each to this call alone: a script runs on its own). A lease whose note is gone too (its
# holder died more than LEASE_NOTE_MARGIN ago) is claimed as well: nobody can say it stopped.
# KEYS: LEASE_ENDS, LEASE_STOPS; ARGV: holder, ms it lives, note ms.
LEASE_CLAIM = _NOW + """
redis.call('SET', '""" + INSTANCE + """' .. ARGV[1], '1', 'PX', ARGV[2])
local claimed = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  local holder = redis.call('GET', '""" + LEASE + """' .. key)
  if not holder or redis.call('EXISTS', '""" + INSTANCE + """' .. holder) == 0 then
    local stop = redis.call('HGET', KEYS[2], key)
    redis.call('ZREM', KEYS[1], key)
    redis.call('HDEL', KEYS[2], key)
    if holder ~= '""" + SUPERSEDED + """' and holder ~= '""" + TAKEN_OVER + """' then
      redis.call('SET', '""" + LEASE + """' .. key, '""" + TAKEN_OVER + """', 'PX', ARGV[3])
      table.insert(claimed, key)
      table.insert(claimed, stop or '')
    end
  end
end
return claimed
"""


class RedisLeases:
    """The shared book of leases (gateway.leases.SharedLeases) in Redis. Redis unavailable:
    logged, and a lease's end stops its action (its `ended` answers True).

    Each lease is a note naming its holder (an instance), plus its end by Redis's clock (one
    clock for every instance) and its stop; each instance notes every second that it lives
    (`claim`), and claims the leases that ended while their holder did not live."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._take = client.register_script(LEASE_TAKE)
        self._supersede = client.register_script(LEASE_SUPERSEDE)
        self._ended = client.register_script(LEASE_ENDED)
        self._claim = client.register_script(LEASE_CLAIM)
        self._claims_failing = False

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [LEASE + key, LEASE_ENDS, LEASE_STOPS]

    async def take(self, key: str, holder: str, seconds: float, stop: str) -> bool:
        try:
            await redis_call(self._take(keys=self._keys(key), args=[
                holder, int(seconds * 1000), _note_ms(seconds), key, stop]))
        except (RedisError, OSError) as exc:
            log.warning("lease %s not shared: Redis unavailable (%s)", key, type(exc).__name__)
            return False
        return True

    async def supersede(self, key: str, seconds: float) -> None:
        try:
            await redis_call(self._supersede(keys=self._keys(key),
                                             args=[_note_ms(seconds), key]))
        except (RedisError, OSError) as exc:
            log.warning("lease %s not shared: Redis unavailable (%s)", key, type(exc).__name__)

    async def ended(self, key: str, holder: str) -> bool:
        try:
            return bool(await redis_call(self._ended(keys=self._keys(key), args=[holder, key])))
        except (RedisError, OSError) as exc:
            log.warning("lease %s: Redis unavailable (%s), stopping", key, type(exc).__name__)
            return True

    async def claim(self, holder: str, alive: float) -> list[tuple[str, str]]:
        try:
            found = await redis_call(self._claim(keys=[LEASE_ENDS, LEASE_STOPS], args=[
                holder, int(alive * 1000), _note_ms(0)]))
        except (RedisError, OSError) as exc:
            if not self._claims_failing:  # asked twice a second: logged once an outage
                log.warning("leases of instances gone not looked for: Redis unavailable (%s)",
                            type(exc).__name__)
            self._claims_failing = True
            return []
        self._claims_failing = False
        return list(zip(found[::2], found[1::2], strict=True))


def _note_ms(seconds: float) -> int:
    return int((seconds + LEASE_NOTE_MARGIN) * 1000)
