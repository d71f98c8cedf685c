"""One store interface, two implementations: the same checks against the embedded stores (memory
sessions, SQLite policy) and the Redis ones."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.credentials import Credentials
from gateway.state.redisstore import RedisPolicyStore, RedisSessions, connect
from gateway.state.sessions import MemorySessions, token_key
from gateway.state.store import PolicyStore, SqlitePolicyStore


@pytest.fixture(params=["sqlite", "redis"])
async def policy(request, tmp_path):
    store: PolicyStore
    if request.param == "sqlite":
        store = SqlitePolicyStore(tmp_path / "policy.sqlite3")
    else:
        store = RedisPolicyStore(connect(request.getfixturevalue("redis_url")))
    await store.open()
    yield store
    await store.close()


@pytest.fixture(params=["memory", "redis"])
async def sessions(request):
    if request.param == "memory":
        yield MemorySessions(idle_timeout=0.4, max_age=1.0, max_sessions=100)
        return
    client = connect(request.getfixturevalue("redis_url"))
    yield RedisSessions(client, idle_timeout=0.4, max_age=1.0)
    await client.aclose()


async def test_enabled_flags(policy):
    assert await policy.enabled("cam", "video-sources") == {}
    await policy.set_enabled("cam", "video-sources", {"video1": 0, "video2": 1})
    await policy.set_enabled("cam", "video-sources", {"video2": 0})
    assert await policy.enabled("cam", "video-sources") == {"video1": 0, "video2": 0}
    assert await policy.enabled("cam", "video-encoders") == {}
    assert await policy.enabled("other", "video-sources") == {}


async def test_owned_profiles(policy):
    await policy.add_profile("cam", "gw1")
    await policy.add_profile("cam", "gw1")
    await policy.add_profile("cam", "gw2")
    await policy.remove_profile("cam", "gw1")
    assert await policy.owned_profiles("cam") == {"gw2"}
    assert await policy.owned_profiles("other") == set()


async def test_runtime_devices(policy):
    assert await policy.add_device("lobby", "http://127.0.0.1:9/a") is True
    assert await policy.add_device("lobby", "http://127.0.0.1:9/b") is False
    assert await policy.add_device("dock", "http://127.0.0.1:9/c") is True
    assert await policy.devices() == {"dock": "http://127.0.0.1:9/c",
                                      "lobby": "http://127.0.0.1:9/a"}
    assert await policy.device("lobby") == "http://127.0.0.1:9/a"
    await policy.set_enabled("lobby", "video-sources", {"video1": 0})
    await policy.add_profile("lobby", "gw1")
    await policy.remove_device("lobby")
    assert await policy.device("lobby") is None
    assert await policy.enabled("lobby", "video-sources") == {}
    assert await policy.owned_profiles("lobby") == set()


async def test_versions_change_with_writes(policy):
    before = await policy.version("cam")
    await policy.bump("cam")
    assert await policy.version("cam") != before
    assert await policy.version("other") == await policy.version("other")


async def test_session_round_trip(sessions):
    token = await sessions.create("cam", Credentials("operator", "s3cret"), "Operator",
                                 "127.0.0.1")
    session = await sessions.get(token)
    assert session is not None
    assert (session.device, session.level) == ("cam", "Operator")
    assert session.credentials == Credentials("operator", "s3cret")
    assert await sessions.get(token + "x") is None
    assert await sessions.count() == 1
    assert await sessions.end(token) is True
    assert await sessions.get(token) is None
    assert await sessions.end(token) is False


async def test_session_idle_and_absolute_expiry(sessions):
    idle = await sessions.create("cam", Credentials("u", "p"), None, "127.0.0.1")
    used = await sessions.create("cam", Credentials("u", "p"), None, "127.0.0.1")
    for _ in range(3):
        await asyncio.sleep(0.25)
        assert await sessions.get(used) is not None  # use keeps it alive...
    assert await sessions.get(idle) is None  # ...the other one idled out
    await asyncio.sleep(0.35)
    assert await sessions.get(used) is None  # past max_age, however much it is used


@pytest.fixture(params=["memory", "redis"])
async def capped(request):
    """Sessions with small shares: 2 per user of a device, 3 per client address."""
    if request.param == "memory":
        yield MemorySessions(idle_timeout=60, max_age=60, max_sessions=100, per_user=2,
                             per_address=3)
        return
    client = connect(request.getfixturevalue("redis_url"))
    yield RedisSessions(client, idle_timeout=60, max_age=60, per_user=2, per_address=3)
    await client.aclose()


async def test_a_user_or_an_address_fills_only_its_own_share(capped):
    bystander = await capped.create("cam", Credentials("admin", "a"), "Administrator", "10.0.0.9")
    mine = [await capped.create("cam", Credentials("u", "p"), None, "10.0.0.1")
            for _ in range(3)]
    assert await capped.get(mine[0]) is None  # the user's oldest ended
    assert all([await capped.get(token) for token in mine[1:]])
    sprayed = [await capped.create("cam", Credentials(f"v{i}", "p"), None, "10.0.0.2")
               for i in range(5)]
    assert [await capped.get(token) is not None for token in sprayed] == [False] * 2 + [True] * 3
    assert (await capped.get(bystander)).credentials.username == "admin"


async def test_ending_a_device_ends_its_sessions_only(sessions):
    gone = [await sessions.create("spy", Credentials("u", "p"), None, "127.0.0.1")
            for _ in range(2)]
    kept = await sessions.create("cam", Credentials("u", "p"), None, "127.0.0.1")
    ended = await sessions.end_device("spy")  # what the sessions hold ends with them
    assert sorted(ended) == sorted((token_key(token), "u") for token in gone)
    assert [await sessions.get(token) for token in gone] == [None, None]
    assert await sessions.get(kept) is not None


async def test_webhooks(policy):
    assert await policy.webhooks() == {}
    await policy.add_webhook("b", '{"url": "http://127.0.0.1:9/b"}')
    await policy.add_webhook("a", '{"url": "http://127.0.0.1:9/a"}')
    assert await policy.webhooks() == {"a": '{"url": "http://127.0.0.1:9/a"}',
                                       "b": '{"url": "http://127.0.0.1:9/b"}'}
    assert await policy.remove_webhook("a")
    assert not await policy.remove_webhook("a")
    assert list(await policy.webhooks()) == ["b"]


async def test_a_loop_of_redis_store_calls_ends_when_it_is_cancelled(redis_url):
    """A task that calls the Redis stores in a loop (as the gateway's background work does) ends
    at its cancel. redis-py lost that cancel on Python 3.11 when it came just as a command had
    been sent (its asyncio.wait_for, CPython gh-86296: see redisstore.redis_call), and the loop
    went on for ever: 8 cancels in 30 were lost here before the stores used redis_call."""
    client = connect(redis_url)
    sessions = RedisSessions(client, idle_timeout=60, max_age=600)
    policy = RedisPolicyStore(client)
    token = await sessions.create("cam", Credentials("admin", "admin"), None, "127.0.0.1")
    running = True

    async def calls() -> None:
        while running:
            await sessions.get(token)
            await policy.version("cam")
            await sessions.count()

    lost = 0
    chance = random.Random(0)
    try:
        for _ in range(30):
            task = asyncio.create_task(calls())
            await asyncio.sleep(chance.uniform(0.001, 0.01))
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=2)  # a bound on a hang
            if not done:
                lost += 1
                running = False  # that loop then ends by itself
                await asyncio.wait([task], timeout=10)
                running = True
            elif not task.cancelled():
                task.result()  # an error of the store's, not a cancel: said as it is
                lost += 1
    finally:
        await client.aclose()
    assert lost == 0, f"{lost} of 30 cancels lost"
