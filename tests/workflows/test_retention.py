"""The retention job deletes only expired transport rows, in bounded batches (issue 11, housekeeping)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.settings import Settings
from models.base import utcnow
from models.chat import CallbackSignature, ChatInbound
from models.devices import Device, DeviceReading
from models.errors import ValidationError
from models.event_log import HandlerRun, RunStatus
from models.identity import BindingAttempt, ConsoleSession
from models.infra import OutboxEvent
from models.operations.retention import RetentionPolicy
from workflows.retention import purge_expired
from workflows.schedule import beat_schedule

POLICY = RetentionPolicy()  # 30 / 90 / 14 / 7 / 2 days


def _seed(session_factory: Any, demo: Any, now: Any) -> dict[str, dict[str, list[Any]]]:
    """Per table: the ids that must go ("old") and the ids that must stay ("keep")."""
    tag = uuid.uuid4().hex[:10]
    day = timedelta(days=1)
    with session_factory() as s:
        device = Device(org_id=demo.org_id, code=f"T-{tag}", kind="sensor", site_id=demo.sites["ZC"],
                        secret_hash="x")
        s.add(device)
        s.flush()
        chat = [ChatInbound(channel="wecom", msg_key=f"{tag}-{i}", created_at=now - age * day)
                for i, age in enumerate([31, 45, 29, 1])]
        readings = [DeviceReading(org_id=demo.org_id, device_id=device.id, metric="temp", value=4,
                                  measured_at=now, created_at=now - age * day, dedupe_key=f"{tag}-{i}")
                    for i, age in enumerate([91, 120, 89])]
        attempts = [BindingAttempt(identity=f"wecom:{tag}", org_id=demo.org_id, created_at=now - age * day)
                    for age in (8, 6)]
        signatures = [CallbackSignature(channel="wechat", sig_key=f"{tag}-{i}", body_digest="d",
                                        expires_at=now - age * day) for i, age in enumerate([3, 1])]
        sign_ins = [ConsoleSession(org_id=demo.org_id, member_id=demo.members["赵经理"], token_hash=f"{tag}-{i}",
                                   method="dev", created_at=now - age * day) for i, age in enumerate([91, 89])]

        def event(dispatched_days: float | None, run: RunStatus | None) -> OutboxEvent:
            e = OutboxEvent(id=uuid.uuid4(), org_id=demo.org_id, kind="test.retention", payload={},
                            created_at=now - 30 * day,
                            dispatched_at=None if dispatched_days is None else now - dispatched_days * day)
            s.add(e)
            s.flush()  # no ORM relationship orders the insert before its run
            if run is not None:
                s.add(HandlerRun(org_id=demo.org_id, event_id=e.id, handler="h", kind=e.kind, status=run,
                                 attempts=1, last_error="", event_created_at=e.created_at, handled_at=now))
            return e

        gone_events = [event(15, RunStatus.DONE), event(20, None)]
        kept_events = [event(15, RunStatus.DEAD), event(15, RunStatus.RETRY), event(13, RunStatus.DONE),
                       event(None, None)]
        s.add_all(chat + readings + attempts + signatures + sign_ins)
        s.commit()
        return {
            "chat_inbound": {"old": [r.id for r in chat[:2]], "keep": [r.id for r in chat[2:]]},
            "device_readings": {"old": [r.id for r in readings[:2]], "keep": [readings[2].id]},
            "binding_attempts": {"old": [attempts[0].id], "keep": [attempts[1].id]},
            "callback_signatures": {"old": [signatures[0].id], "keep": [signatures[1].id]},
            "console_sessions": {"old": [sign_ins[0].id], "keep": [sign_ins[1].id]},
            "outbox_events": {"old": [e.id for e in gone_events], "keep": [e.id for e in kept_events]},
        }


MODELS: dict[str, Any] = {"chat_inbound": ChatInbound, "device_readings": DeviceReading,
                          "binding_attempts": BindingAttempt, "callback_signatures": CallbackSignature,
                          "console_sessions": ConsoleSession, "outbox_events": OutboxEvent}


def _present(session_factory: Any, table: str, ids: list[Any]) -> int:
    model = MODELS[table]
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(model.id.in_(ids))) or 0


def _expired_now(session_factory: Any, now: Any) -> dict[str, int]:
    """Every row any test left that the policy calls expired (the job must delete exactly these)."""
    day = timedelta(days=1)
    with session_factory() as s:
        def count(model: Any, column: Any, days: int) -> int:
            return s.scalar(select(func.count()).select_from(model).where(column < now - days * day)) or 0
        return {"chat_inbound": count(ChatInbound, ChatInbound.created_at, POLICY.chat_inbound_days),
                "device_readings": count(DeviceReading, DeviceReading.created_at, POLICY.device_readings_days),
                "binding_attempts": count(BindingAttempt, BindingAttempt.created_at, POLICY.binding_attempts_days),
                "callback_signatures": count(CallbackSignature, CallbackSignature.expires_at,
                                             POLICY.callback_signatures_days),
                "console_sessions": count(ConsoleSession, ConsoleSession.created_at, POLICY.console_sessions_days)}


def test_only_expired_rows_go(session_factory, demo):
    now = utcnow()
    seeded = _seed(session_factory, demo, now)
    expected = _expired_now(session_factory, now)
    totals = purge_expired(session_factory, POLICY, now)
    for table, count in expected.items():
        assert totals[table] == count, table
    for table, ids in seeded.items():
        assert _present(session_factory, table, ids["old"]) == 0, table
        assert _present(session_factory, table, ids["keep"]) == len(ids["keep"]), table
    with session_factory() as s:
        runs = s.scalars(select(HandlerRun.status).where(HandlerRun.event_id.in_(
            seeded["outbox_events"]["old"] + seeded["outbox_events"]["keep"]))).all()
    # The DONE run of the deleted event went with it; the dead, retrying and recent runs stay.
    assert sorted(runs) == sorted([RunStatus.DEAD, RunStatus.RETRY, RunStatus.DONE])
    assert totals["handler_runs"] >= 1 and totals["outbox_events"] >= 2


def test_batches_are_bounded(session_factory, demo):
    now = utcnow()
    purge_expired(session_factory, POLICY, now)  # leftovers of other tests first
    seeded = _seed(session_factory, demo, now)
    small = RetentionPolicy(batch_size=1)
    first = purge_expired(session_factory, small, now, max_batches=1)
    # Oldest first: the 20-day event, which had no run.
    assert first == {"chat_inbound": 1, "device_readings": 1, "binding_attempts": 1, "console_sessions": 1,
                     "console_login_codes": 0, "callback_signatures": 1, "handler_runs": 0, "outbox_events": 1}
    assert _present(session_factory, "chat_inbound", seeded["chat_inbound"]["old"]) == 1
    rest = purge_expired(session_factory, small, now)
    assert rest == {"chat_inbound": 1, "device_readings": 1, "binding_attempts": 0, "console_sessions": 0,
                    "console_login_codes": 0, "callback_signatures": 0, "handler_runs": 1, "outbox_events": 1}
    for table, ids in seeded.items():
        assert _present(session_factory, table, ids["old"]) == 0, table
    assert _present(session_factory, "outbox_events", seeded["outbox_events"]["keep"]) == 4


def test_retention_is_configurable_and_checked():
    settings = Settings.from_env({"RETENTION_OUTBOX_DAYS": "3", "RETENTION_BATCH_SIZE": "50"})
    assert settings.retention == RetentionPolicy(outbox_days=3, batch_size=50)
    assert Settings.from_env({}).retention == RetentionPolicy(30, 90, 14, 7, 2, 1000)
    with pytest.raises(ValidationError) as refused:
        Settings.from_env({"RETENTION_CHAT_INBOUND_DAYS": "0"})
    assert refused.value.code == "VALIDATION_ERROR"
    assert "保留天数" in refused.value.message


def test_beat_runs_the_retention_task():
    import workflows.retention

    job = beat_schedule()["retention"]
    assert job["task"] == workflows.retention.purge_old_rows.name == "workflows.retention.purge_old_rows"
