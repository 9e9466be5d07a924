"""The console's one-time sign-in codes: hashed, five minutes, five tries, one a minute, never telling."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.console_login import ConsoleLoginCode
from models.errors import ValidationError
from models.infra import OutboxEvent
from models.operations.console_login import (
    MAX_CODES_PER_DAY,
    MAX_TRIES,
    CodeDailyLimit,
    CodeSentTooSoon,
    IssueLoginCode,
    VerifyLoginCode,
    issue_login_code,
    verify_login_code,
)
from models.org import IdentityProvider
from models.uow import run
from tests.console.signin_fixtures import rebind, unique_phone


def issued(session_factory, phone, now=None) -> tuple[str | None, list[OutboxEvent]]:
    """Issue a code; return it as the chat message carries it (None: nothing sent) and the new events."""
    with session_factory() as s:
        before = set(s.scalars(select(OutboxEvent.id).where(OutboxEvent.kind == "chat.push")))
    run(session_factory, issue_login_code, IssueLoginCode(phone), now=now)
    with session_factory() as s:
        events = [e for e in s.scalars(select(OutboxEvent).where(OutboxEvent.kind == "chat.push"))
                  if e.id not in before and "管理台登录验证码" in e.payload["text"]]
    code = re.search(r"(\d{6})", events[-1].payload["text"]).group(1) if events else None
    return code, events


def verify(session_factory, phone, code, now=None):
    return run(session_factory, verify_login_code, VerifyLoginCode(phone, code), now=now)


@pytest.fixture
def zhao(session_factory, demo):
    phone = unique_phone(session_factory, demo, "赵经理")
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    return phone, userid


def test_the_code_goes_to_the_bound_chat_and_only_its_hash_is_kept(session_factory, demo, zhao):
    phone, userid = zhao
    code, events = issued(session_factory, phone)
    assert code and len(events) == 1
    assert events[0].payload["channel"] == "dingtalk" and events[0].payload["user_id"] == userid
    assert events[0].org_id == demo.org_id
    with session_factory() as s:
        row = s.scalars(select(ConsoleLoginCode).where(ConsoleLoginCode.phone == phone)).one()
        assert code not in (row.code_hash, row.salt) and len(row.code_hash) == 64
    check = verify(session_factory, phone, code)
    assert [m.member_id for m in check.members] == [demo.members["赵经理"]]
    assert not verify(session_factory, phone, code).ok  # spent


def test_a_code_expires_after_five_minutes(session_factory, zhao):
    phone, _ = zhao
    now = utcnow()
    code, _ = issued(session_factory, phone, now=now)
    assert not verify(session_factory, phone, code, now=now + timedelta(minutes=5, seconds=1)).ok
    assert verify(session_factory, phone, code, now=now + timedelta(minutes=4)).ok


def test_five_wrong_tries_kill_the_code(session_factory, zhao):
    phone, _ = zhao
    code, _ = issued(session_factory, phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(MAX_TRIES):
        assert not verify(session_factory, phone, wrong).ok
    assert not verify(session_factory, phone, code).ok  # dead: even the right code fails now
    with session_factory() as s:
        assert s.scalar(select(ConsoleLoginCode.attempts).where(ConsoleLoginCode.phone == phone)) == MAX_TRIES


def test_one_code_a_minute_per_phone_and_a_new_code_replaces_the_old(session_factory, zhao):
    phone, _ = zhao
    now = utcnow()
    first, _ = issued(session_factory, phone, now=now)
    with pytest.raises(CodeSentTooSoon):
        issued(session_factory, phone, now=now + timedelta(seconds=30))
    second, _ = issued(session_factory, phone, now=now + timedelta(seconds=61))
    later = now + timedelta(seconds=62)
    if first != second:
        assert not verify(session_factory, phone, first, now=later).ok
    assert verify(session_factory, phone, second, now=later).ok


def test_an_unknown_phone_writes_a_code_row_sends_nothing_and_is_rate_limited_alike(session_factory):
    phone = "13655500011"
    now = utcnow() + timedelta(days=3650)  # clear of earlier runs' rows for this made-up number
    code, events = issued(session_factory, phone, now=now)
    assert code is None and events == []
    with pytest.raises(CodeSentTooSoon):
        issued(session_factory, phone, now=now + timedelta(seconds=10))


def test_a_code_signs_in_only_the_phone_it_was_sent_for(session_factory, demo, zhao):
    phone, _ = zhao
    other_phone = unique_phone(session_factory, demo, "钱总监")
    code, _ = issued(session_factory, phone)
    assert not verify(session_factory, other_phone, code).ok
    assert verify(session_factory, phone, code).ok


def test_a_deactivated_member_cannot_sign_in_with_a_code(session_factory, demo, zhao):
    from sqlalchemy import update

    from models.org import Member

    phone, _ = zhao
    code, _ = issued(session_factory, phone)
    with session_factory.begin() as s:
        s.execute(update(Member).where(Member.id == demo.members["赵经理"]).values(active=False))
    assert not verify(session_factory, phone, code).ok


def test_a_malformed_phone_is_a_validation_error(session_factory):
    with pytest.raises(ValidationError):
        run(session_factory, issue_login_code, IssueLoginCode("abc"))
    assert not verify(session_factory, "abc", "123456").ok


def test_the_retention_job_deletes_codes_after_a_day(session_factory, zhao):
    from models.operations.retention import RetentionPolicy, purge_batch

    phone, _ = zhao
    long_ago = utcnow() - timedelta(days=2)
    issued(session_factory, phone, now=long_ago)
    issued(session_factory, phone)  # today's stays: it still rate-limits the phone
    run(session_factory, purge_batch, RetentionPolicy(batch_size=10_000), utcnow())
    with session_factory() as s:
        kept = s.scalars(select(ConsoleLoginCode.created_at).where(ConsoleLoginCode.phone == phone)).all()
    assert len(kept) == 1 and kept[0] > long_ago + timedelta(days=1)


def test_at_most_ten_codes_a_day_per_phone(session_factory, zhao):
    phone, _ = zhao
    start = utcnow() + timedelta(days=1)  # clear of this test's fixture rows
    for i in range(MAX_CODES_PER_DAY):
        issued(session_factory, phone, now=start + timedelta(minutes=2 * i))
    with pytest.raises(CodeDailyLimit):
        issued(session_factory, phone, now=start + timedelta(hours=2))
    code, _ = issued(session_factory, phone, now=start + timedelta(days=1, minutes=1))
    assert code is not None
