"""Attack replays: each test repeats one finding of the trust-boundary review (issue 10) and asserts
the refusal (stable code + Chinese message) and that nothing was written.

Fixtures: ``app``/``client``/``as_`` from the clerk API fixtures, ``demo``/``actors`` from the root
conftest. ``rows(engine)`` snapshots every table's row count so a test can say "nothing changed".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, func, select

from models.base import Base
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def rows(engine: Engine, *, ignore: Iterable[str] = ()) -> dict[str, int]:
    """Return {table: row count} for every model table except ``ignore`` (e.g. an attempts log) and
    the number counters: on PostgreSQL numbers are taken ahead in blocks, outside the posting's
    transaction (models.number_blocks), so a refused posting may have created its series' counter;
    its number itself goes back to the process, and the documents and vouchers show nothing posted.
    Console sign-ins (console_sessions) are not business state either: a test may sign in after counting."""
    skip = {*ignore, "number_sequences", "console_sessions"}
    with engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0
                for t in Base.metadata.sorted_tables if t.name not in skip}


def assert_refused(resp: Any, status: int, code: str, message_part: str = "") -> dict[str, Any]:
    """Assert an HTTP answer is the shared error shape with ``status`` and ``code``; return the error."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == code, error
    assert message_part in error["message"], error
    return error
