"""The Celery app delivers the relay task through the embedded broker and through real Redis."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from app.settings import Settings
from models.infra import OutboxEvent
from models.operations import ReceiveGoods, receive_goods
from models.uow import run
from tests.conftest import service_unavailable
from workflows.celery_app import create_celery

REDIS_URL = "redis://127.0.0.1:6379/15"


def _deliver_and_relay(celery_app, session_factory, demo, actors) -> None:
    receipt = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(2), unit="公斤",
        party_id=demo.parties["李大伯"], grade_id=demo.grades["特级"]))
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        celery_app.send_task("workflows.tasks.relay_outbox", kwargs={"limit": 10_000})
        deadline = time.monotonic() + 60  # the relay first works through what earlier tests left pending
        while time.monotonic() < deadline:
            with session_factory() as session:
                event = session.scalar(select(OutboxEvent).where(OutboxEvent.document_id == receipt.document_id))
                if event is not None and event.dispatched_at is not None:
                    return
            time.sleep(0.1)
    pytest.fail("the relay task was not executed through the broker")


@pytest.fixture
def env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LIUZHUAN_VAR_DIR", str(tmp_path))
    return monkeypatch


def test_embedded_file_system_broker_runs_the_relay(env, session_factory, demo, actors):
    env.delenv("REDIS_URL", raising=False)
    app = create_celery(Settings.from_env())
    assert app.conf.broker_url == "filesystem://" and app.conf.task_acks_late
    _deliver_and_relay(app, session_factory, demo, actors)


@pytest.mark.redis
def test_redis_broker_runs_the_relay(env, session_factory, demo, actors):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_unavailable("Redis", exc)
    env.setenv("REDIS_URL", REDIS_URL)
    app = create_celery(Settings.from_env())
    assert app.conf.broker_url == REDIS_URL
    _deliver_and_relay(app, session_factory, demo, actors)


def test_every_periodic_job_names_a_registered_task(env):
    app = create_celery(Settings.from_env())
    app.loader.import_default_modules()  # as a worker or beat does at start: the `include` list registers them
    schedule = app.conf.beat_schedule
    assert {"outbox-sweep", "todo-scan", "stock-alerts"} <= set(schedule)
    for job in schedule.values():
        assert job["task"] in app.tasks, job["task"]
