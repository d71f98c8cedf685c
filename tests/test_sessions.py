"""Session tokens: random, idle and absolute expiry, ended on request (in-memory store; the
shared-store contract tests run the same checks against Redis too)."""

from __future__ import annotations

from gateway.credentials import Credentials
from gateway.state.sessions import MemorySessions
from tests.conftest import FakeClock


def store(clock):
    return MemorySessions(idle_timeout=60, max_age=300, max_sessions=100, clock=clock)


async def test_token_is_long_random_and_bound():
    sessions = store(FakeClock())
    token = await sessions.create("cam", Credentials("admin", "admin"), "Administrator",
                                 "127.0.0.1")
    assert len(token) >= 43  # 256 bits, base64url
    session = await sessions.get(token)
    assert session is not None
    assert session.device == "cam"
    assert session.credentials.username == "admin"
    assert session.level == "Administrator"
    assert await sessions.get(token[:-1]) is None


async def test_idle_expiry_and_refresh():
    clock = FakeClock()
    sessions = store(clock)
    token = await sessions.create("cam", Credentials("u", "p"), None, "127.0.0.1")
    clock.now += 59
    assert await sessions.get(token) is not None  # use refreshes the idle timer
    clock.now += 59
    assert await sessions.get(token) is not None
    clock.now += 61
    assert await sessions.get(token) is None
    assert await sessions.count() == 0


async def test_absolute_expiry_despite_use():
    clock = FakeClock()
    sessions = store(clock)
    token = await sessions.create("cam", Credentials("u", "p"), None, "127.0.0.1")
    for _ in range(5):
        clock.now += 50
        assert await sessions.get(token) is not None
    clock.now += 55  # 305 s after login, 55 s after its last use
    assert await sessions.get(token) is None


async def test_end():
    sessions = store(FakeClock())
    token = await sessions.create("cam", Credentials("u", "p"), None, "127.0.0.1")
    assert await sessions.end(token) is True
    assert await sessions.get(token) is None
    assert await sessions.end(token) is False


def test_credentials_repr_hides_password():
    assert "hunter2" not in repr(Credentials("admin", "hunter2"))
