"""A clock the tests can set: beat scans and escalations ask it, never ``datetime.now`` directly."""

from __future__ import annotations

from datetime import datetime, timedelta

from models.base import utcnow


class Clock:
    """Real time by default; ``freeze``/``advance`` in tests (no sleeps)."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen or utcnow()

    def freeze(self, when: datetime | None = None) -> datetime:
        self._frozen = when or utcnow()
        return self._frozen

    def advance(self, delta: timedelta) -> datetime:
        self._frozen = self.now() + delta
        return self._frozen

    def thaw(self) -> None:
        self._frozen = None


clock = Clock()
