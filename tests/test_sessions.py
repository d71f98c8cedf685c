"""Session tokens: random, idle and absolute expiry, ended on request."""

from __future__ import annotations

from gateway.sessions import SessionStore
from gateway.soap.device import Credentials


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store(clock):
    return SessionStore(idle_timeout=60, max_age=300, max_sessions=100, clock=clock)


def test_token_is_long_random_and_bound():
    sessions = store(Clock())
    token = sessions.create("cam", Credentials("admin", "admin"))
    assert len(token) >= 43  # 256 bits, base64url
    session = sessions.get(token)
    assert session is not None
    assert session.device == "cam"
    assert session.credentials.username == "admin"
    assert sessions.get(token[:-1]) is None


def test_idle_expiry_and_refresh():
    clock = Clock()
    sessions = store(clock)
    token = sessions.create("cam", Credentials("u", "p"))
    clock.now += 59
    assert sessions.get(token) is not None  # use refreshes the idle timer
    clock.now += 59
    assert sessions.get(token) is not None
    clock.now += 61
    assert sessions.get(token) is None
    assert len(sessions) == 0


def test_absolute_expiry_despite_use():
    clock = Clock()
    sessions = store(clock)
    token = sessions.create("cam", Credentials("u", "p"))
    for _ in range(5):
        clock.now += 50
        assert sessions.get(token) is not None
    clock.now += 55  # 305 s after login, 55 s after its last use
    assert sessions.get(token) is None


def test_end():
    sessions = store(Clock())
    token = sessions.create("cam", Credentials("u", "p"))
    assert sessions.end(token) is True
    assert sessions.get(token) is None
    assert sessions.end(token) is False


def test_credentials_repr_hides_password():
    assert "hunter2" not in repr(Credentials("admin", "hunter2"))
