"""What the gateway keeps between requests: sessions (`sessions.py`, in this process's memory), the
policy store (`store.py`, SQLite under `state_dir`), or both in Redis for several instances
(`redisstore.py`).

The web side, the app factory and the parts that read the policy or share through Redis (devices,
mapping, events) use it; soap/ knows nothing of it.
"""
