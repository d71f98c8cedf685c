"""Who may do what: ONVIF user levels (the limits on logins are gateway.logins)."""

from __future__ import annotations

# tt:UserLevel values that matter here, lowest first (ONVIF's default access policy: reads for
# any user, actuation for Operator and up, system changes and reboot for Administrator).
LEVELS = ("User", "Operator", "Administrator")
READ, WRITE, REBOOT = LEVELS


def a_level(level: str) -> str:
    """The level with its article, as a sentence says it: "a User", "an Operator"."""
    return f"{'an' if level[:1] in 'AEIO' else 'a'} {level}"


def allows(level: str, needed: str) -> bool:
    """Whether a user of `level` may do what needs `needed`."""
    return LEVELS.index(level) >= LEVELS.index(needed)
