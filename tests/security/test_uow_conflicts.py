"""models.uow.run retries only what a retry can cure (issue 11, housekeeping).

A duplicate site code used to be tried three times and then surface as a raw 500; now it is one
attempt and a CONFLICT (409) domain error. The idempotency-claim race, serialization failures,
deadlocks and SQLite's "database is locked" are still retried.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import OperationalError

import models.devices  # tables named by RETRY_CONSTRAINTS
import models.intake  # noqa: F401
from models.base import Base
from models.errors import DataConflict
from models.infra import IdempotencyRecord
from models.operations.masterdata import CreateSite, create_site
from models.org import SiteKind
from models.uow import RETRY_CONSTRAINTS, run
from tests.security.conftest import assert_refused, rows


def _counting(fn: Any) -> tuple[Any, list[int]]:
    calls: list[int] = []

    def counted(session: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return fn(session, *args, **kwargs)

    return counted, calls


def test_duplicate_site_code_is_one_attempt_and_a_conflict(session_factory, engine, demo, actors):
    before = rows(engine)
    op, calls = _counting(create_site)
    with pytest.raises(DataConflict) as refused:
        run(session_factory, op, actors["系统"], CreateSite(code="SX", name="又一个绍兴", kind=SiteKind.WAREHOUSE))
    assert len(calls) == 1  # not retried: a second try would fail the same way
    assert refused.value.code == "CONFLICT"
    assert refused.value.http_status == 409
    assert "已存在" in refused.value.message
    assert refused.value.details["kind"] == "unique"
    assert refused.value.details["constraint"] == "uq_sites_org_id_code"
    assert rows(engine) == before


def test_duplicate_over_http_is_409_conflict_not_500(app, client, session_factory, engine, demo, actors):
    def post_site() -> int:
        return run(session_factory, create_site, actors["系统"],
                   CreateSite(code="ZC", name="总仓二号", kind=SiteKind.WAREHOUSE))

    app.add_url_rule("/_test/duplicate-site", "duplicate_site", lambda: {"id": post_site()}, methods=["POST"])
    before = rows(engine)
    resp = client.post("/_test/duplicate-site")
    assert_refused(resp, 409, "CONFLICT", "数据冲突")
    assert rows(engine) == before


def test_idempotency_claim_race_is_retried_into_success(session_factory, engine, demo):
    """The loser of a concurrent claim hits the key's unique constraint; the retry then succeeds."""
    assert {"uq_idempotency_records_org_id_member_id_key", "uq_device_readings_device_id_dedupe_key",
            "uq_intake_drafts_org_id_client_id", "uq_chat_inbound_channel_msg_key"} <= RETRY_CONSTRAINTS
    assert "uq_sites_org_id_code" not in RETRY_CONSTRAINTS  # a duplicate code is answered, not retried
    # Each names a real unique constraint (a renamed one would silently stop being retried).
    unique_names = {c.name for t in Base.metadata.tables.values() for c in t.constraints
                    if isinstance(c, UniqueConstraint)}
    assert unique_names >= RETRY_CONSTRAINTS
    with session_factory() as session:
        session.add(IdempotencyRecord(org_id=demo.org_id, member_id=0, key="race-key", operation="t",
                                      request_hash="h", result={"ok": True}))
        session.commit()

    calls: list[int] = []

    def claim(session: Any) -> str:
        calls.append(1)
        if len(calls) == 1:  # the first attempt claims a key another request has just committed
            session.add(IdempotencyRecord(org_id=demo.org_id, member_id=0, key="race-key", operation="t",
                                          request_hash="h"))
            session.flush()
        return "replayed"

    assert run(session_factory, claim) == "replayed"
    assert len(calls) == 2
    with session_factory() as session:
        assert session.query(IdempotencyRecord).filter_by(org_id=demo.org_id, key="race-key").count() == 1


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("orig", [_PgError("40001"), _PgError("40P01"), sqlite3.OperationalError("database is locked")],
                         ids=["serialization", "deadlock", "sqlite-locked"])
def test_transient_failures_are_retried(session_factory, orig):
    calls: list[int] = []

    def flaky(session: Any) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE balances …", {}, orig)
        return "done"

    assert run(session_factory, flaky) == "done"
    assert len(calls) == 3


def test_other_operational_errors_are_not_retried(session_factory):
    calls: list[int] = []

    def broken(session: Any) -> None:
        calls.append(1)
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: nowhere"))

    with pytest.raises(OperationalError):
        run(session_factory, broken)
    assert len(calls) == 1

