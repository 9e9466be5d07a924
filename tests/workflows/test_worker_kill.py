"""A worker killed mid-task on real Redis: the task is redelivered and nothing happens twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app.settings import Settings
from models.event_log import HandlerRun, Notification, RunStatus
from models.outbox import emit
from tests.conftest import ROOT, service_unavailable
from workflows.celery_app import create_celery

REDIS_URL = "redis://127.0.0.1:6379/14"


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.workflows.kill_worker_app", "worker", "--pool=solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", env["LIUZHUAN_TEST_QUEUE"],
         "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait(predicate, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


@pytest.mark.redis
def test_killed_worker_redelivers_and_the_handler_runs_once(session_factory, demo, database_url, tmp_path):
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        service_unavailable("Redis", exc)
    queue = f"kill-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "LIUZHUAN_TEST_QUEUE": queue,
           "LIUZHUAN_VAR_DIR": str(tmp_path)}
    env.pop("DINGTALK_APP_KEY", None)
    flag, started, log = tmp_path / "hang", tmp_path / "started", tmp_path / "worker.log"
    flag.touch()
    with session_factory() as session:
        event = emit(session, demo.org_id, "test.kill", {"flag": str(flag), "started": str(started)})
        session.commit()
        event_id = event.id

    sender = create_celery(Settings.from_env(env))
    first = _worker(env, log)
    try:
        sender.send_task("workflows.tasks.relay_outbox", kwargs={"limit": 10_000}, queue=queue)
        _wait(started.exists, 60, "the handler to start", log)
        os.killpg(first.pid, signal.SIGKILL)  # mid-task: the relay's transaction never commits
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    flag.unlink()
    # No fixed wait: the next worker's restore sweep (every second) puts the unacked message back once its
    # visibility timeout (2 s) has passed, and _wait below allows for that.

    def effects() -> list[Notification]:
        with session_factory() as session:
            return list(session.scalars(select(Notification).where(
                Notification.dedupe_key.like(f"kill-{event_id}-%"))))

    def settled() -> bool:
        """The handler run is DONE and its message acked: nothing is left that could run it again."""
        with session_factory() as session:
            status = session.scalar(select(HandlerRun.status).where(HandlerRun.event_id == event_id,
                                                                    HandlerRun.handler == "test.slow"))
        unacked = [v for v in client.hvals("unacked") if queue.encode() in v]
        return status == RunStatus.DONE and client.llen(queue) == 0 and not unacked

    assert effects() == []
    second = _worker(env, log)
    try:
        _wait(lambda: len(effects()) > 0, 60, "the redelivered task", log)
        _wait(settled, 30, "the redelivered task to be acked", log)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(20)
    assert len(effects()) == 1
    with session_factory() as session:
        [handled] = session.scalars(select(HandlerRun).where(HandlerRun.event_id == event_id,
                                                             HandlerRun.handler == "test.slow"))
        assert handled.status == RunStatus.DONE and handled.attempts == 1
    client.delete(queue)
