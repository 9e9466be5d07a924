"""Run one operation as one transaction, retrying the conflicts a retry can cure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

R = TypeVar("R")

#: PostgreSQL SQLSTATEs worth one more try: serialization failure, deadlock.
_RETRY_SQLSTATES = {"40001", "40P01"}


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        # Most often two requests with one idempotency key: the retry replays the first.
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in _RETRY_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


def run(
    session_factory: sessionmaker[Session],
    fn: Callable[..., R],
    /,
    *args: Any,
    attempts: int = 3,
    **kwargs: Any,
) -> R:
    """Call ``fn(session, *args, **kwargs)``, commit, and return its result.

    Domain errors roll back and propagate unchanged: nothing is half-written.
    """
    for attempt in range(1, attempts + 1):
        with session_factory() as session:
            try:
                result = fn(session, *args, **kwargs)
                session.commit()
                return result
            except DBAPIError as exc:
                session.rollback()
                if attempt == attempts or not _retryable(exc):
                    raise
            except BaseException:
                session.rollback()
                raise
        time.sleep(0.005 * attempt)
    raise AssertionError("unreachable")
