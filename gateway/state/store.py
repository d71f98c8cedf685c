"""The gateway's policy store: what it keeps per device that ONVIF has no place for.

- which video sources and codecs are enabled ("enabled" in /sources/video and /encoders/video);
- which media profiles the gateway created, so that it only ever deletes its own;
- the devices added at run time (POST /devices), so that a restart keeps them;
- the webhooks (POST /webhooks), with their secrets.

The embedded backend is one SQLite file under the state directory. Every change is one transaction:
a PUT is applied whole or not at all, and a crash or kill in the middle of a write leaves the
previous state (SQLite's journal rolls an unfinished transaction back on the next open).
SQLite calls block, so they run in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from gateway.errors import StartupError

SCHEMA = """
CREATE TABLE IF NOT EXISTS enabled (
    device TEXT NOT NULL, policy TEXT NOT NULL, name TEXT NOT NULL,
    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    PRIMARY KEY (device, policy, name)
);
CREATE TABLE IF NOT EXISTS devices (
    name TEXT PRIMARY KEY, url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY, record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS profiles (
    device TEXT NOT NULL, token TEXT NOT NULL,
    PRIMARY KEY (device, token)
);
"""


class PolicyStore(Protocol):
    """Per-device gateway state; SqlitePolicyStore here, RedisPolicyStore for several instances."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def enabled(self, device: str, policy: str) -> dict[str, int]: ...
    async def set_enabled(self, device: str, policy: str, values: Mapping[str, int]) -> None: ...
    async def owned_profiles(self, device: str) -> set[str]: ...
    async def add_profile(self, device: str, token: str) -> None: ...
    async def remove_profile(self, device: str, token: str) -> None: ...
    async def devices(self) -> dict[str, str]: ...
    async def device(self, name: str) -> str | None: ...
    async def add_device(self, name: str, url: str) -> bool: ...
    async def remove_device(self, name: str) -> None: ...
    async def version(self, device: str) -> int:
        """A number that changes with every write to the device (read caches compare it)."""
        ...

    async def bump(self, device: str) -> None:
        """Say that the device changed (after a write to it)."""
        ...

    async def webhooks(self) -> dict[str, str]:
        """Every webhook registration: id -> its JSON record."""
        ...

    async def add_webhook(self, webhook_id: str, record: str) -> None: ...
    async def remove_webhook(self, webhook_id: str) -> bool:
        """Whether there was one."""
        ...


class SqlitePolicyStore:
    """Durable per-device policy in SQLite (WAL journal, synchronous writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        # One process owns the file, so versions can live in its memory.
        self._versions: dict[str, int] = {}

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        return db

    async def open(self) -> None:
        """Open (and create if needed) the store file."""
        try:
            self._db = await asyncio.to_thread(self._open)
        except (sqlite3.Error, OSError) as exc:
            raise StartupError(f"cannot open the policy store {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._db is not None:
            await asyncio.to_thread(self._db.close)
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the policy store is not open")
        return self._db

    async def _run(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        async with self._lock:
            return await asyncio.to_thread(lambda: self.db.execute(sql, params).fetchall())

    async def enabled(self, device: str, policy: str) -> dict[str, int]:
        """The stored enabled flags of one policy table of a device (absent names: default)."""
        rows = await self._run(
            "SELECT name, enabled FROM enabled WHERE device = ? AND policy = ?", device, policy
        )
        return {str(name): int(str(flag)) for name, flag in rows}

    async def set_enabled(self, device: str, policy: str, values: Mapping[str, int]) -> None:
        """Store several enabled flags at once: all of them, or (on any failure) none."""

        def write() -> None:
            with self.db:  # one transaction: BEGIN ... COMMIT, or ROLLBACK on error
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(
                    "INSERT INTO enabled (device, policy, name, enabled) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (device, policy, name) DO UPDATE SET enabled = excluded.enabled",
                    [(device, policy, name, flag) for name, flag in values.items()],
                )

        async with self._lock:
            await asyncio.to_thread(write)

    async def owned_profiles(self, device: str) -> set[str]:
        """Tokens of the profiles the gateway created on a device."""
        rows = await self._run("SELECT token FROM profiles WHERE device = ?", device)
        return {str(token) for (token,) in rows}

    async def add_profile(self, device: str, token: str) -> None:
        await self._run(
            "INSERT OR IGNORE INTO profiles (device, token) VALUES (?, ?)", device, token
        )

    async def remove_profile(self, device: str, token: str) -> None:
        await self._run("DELETE FROM profiles WHERE device = ? AND token = ?", device, token)

    async def devices(self) -> dict[str, str]:
        """The devices added at run time: name -> device-service URL."""
        rows = await self._run("SELECT name, url FROM devices ORDER BY name")
        return {str(name): str(url) for name, url in rows}

    async def device(self, name: str) -> str | None:
        rows = await self._run("SELECT url FROM devices WHERE name = ?", name)
        return str(rows[0][0]) if rows else None

    async def add_device(self, name: str, url: str) -> bool:
        """Whether it was added (False: there is one of that name)."""
        rows = await self._run(
            "INSERT INTO devices (name, url) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            name, url)
        return bool(rows)

    async def version(self, device: str) -> int:
        return self._versions.get(device, 0)

    async def bump(self, device: str) -> None:
        self._versions[device] = self._versions.get(device, 0) + 1

    async def webhooks(self) -> dict[str, str]:
        rows = await self._run("SELECT id, record FROM webhooks ORDER BY id")
        return {str(webhook_id): str(record) for webhook_id, record in rows}

    async def add_webhook(self, webhook_id: str, record: str) -> None:
        await self._run("INSERT INTO webhooks (id, record) VALUES (?, ?)", webhook_id, record)

    async def remove_webhook(self, webhook_id: str) -> bool:
        rows = await self._run("DELETE FROM webhooks WHERE id = ? RETURNING 1", webhook_id)
        return bool(rows)

    async def remove_device(self, name: str) -> None:
        """Forget a device and everything kept for it."""

        def write() -> None:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                for table, column in (("devices", "name"), ("enabled", "device"),
                                      ("profiles", "device")):
                    self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))  # noqa: S608

        async with self._lock:
            await asyncio.to_thread(write)
