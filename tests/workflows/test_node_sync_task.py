"""The worker's continuous sync (issue 14): beat schedules it every LIUZHUAN_SYNC_INTERVAL seconds at an
edge node and never at headquarters; the task calls app.node_sync.sync_once with the worker's settings
and session factory, and a run never overlaps another (file lock, or Redis when the worker has it)."""

from __future__ import annotations

import pytest
import redis

from app.settings import Settings
from models import node
from models.errors import ValidationError
from tests.conftest import service_unavailable
from workflows import sync as sync_mod
from workflows.celery_app import create_celery
from workflows.schedule import NODE_SYNC, beat_schedule
from workflows.tasks import session_factory

REDIS_URL = "redis://127.0.0.1:6379/15"
EDGE = {"LIUZHUAN_NODE": "SX1", "LIUZHUAN_HQ_URL": "http://127.0.0.1:9", "LIUZHUAN_NODE_KEY": "k" * 43}


def _settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env({"LIUZHUAN_VAR_DIR": str(tmp_path), **env})


@pytest.fixture
def edge_env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LIUZHUAN_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    for k, v in EDGE.items():
        monkeypatch.setenv(k, v)
    return monkeypatch


@pytest.fixture
def calls(monkeypatch) -> list[tuple[Settings, object]]:
    """sync_once replaced by a recorder (no headquarters here): what the task handed it."""
    seen: list[tuple[Settings, object]] = []

    def fake(settings, factory, out=print, max_rounds=1000):
        seen.append((settings, factory))
        return 0

    monkeypatch.setattr(sync_mod, "sync_once", fake)
    return seen


def test_an_edge_node_syncs_every_interval_and_headquarters_never(tmp_path):
    hq = beat_schedule(_settings(tmp_path))
    assert NODE_SYNC not in hq and not any("sync" in job["task"] for job in hq.values())
    assert NODE_SYNC not in beat_schedule()  # no settings: the shared jobs only
    edge = beat_schedule(_settings(tmp_path, **EDGE))
    assert edge[NODE_SYNC] == {"task": "workflows.sync.sync_node", "schedule": 30.0, "options": {"expires": 30.0}}
    assert set(edge) - set(hq) == {NODE_SYNC}
    slow = beat_schedule(_settings(tmp_path, **EDGE, LIUZHUAN_SYNC_INTERVAL="120"))
    assert slow[NODE_SYNC]["schedule"] == 120.0


def test_the_interval_is_checked(tmp_path):
    for bad in ("0", "-5", "abc", "100000"):
        with pytest.raises(ValidationError):
            _settings(tmp_path, **EDGE, LIUZHUAN_SYNC_INTERVAL=bad)


def test_the_edge_workers_celery_app_registers_and_schedules_the_task(tmp_path):
    try:
        app = create_celery(_settings(tmp_path, **EDGE, LIUZHUAN_SYNC_INTERVAL="45"))
    finally:
        node.configure(node.SERVER)  # create_celery sets the process's node: headquarters for the other tests
    app.loader.import_default_modules()
    job = app.conf.beat_schedule[NODE_SYNC]
    assert job["task"] in app.tasks and job["schedule"] == 45.0


def test_the_task_calls_sync_with_the_workers_settings_and_session_factory(edge_env, calls):
    assert sync_mod.sync_node() == 0
    ((settings, factory),) = calls
    assert settings.node_name == "SX1" and settings.hq_url == EDGE["LIUZHUAN_HQ_URL"]
    assert factory is session_factory()


def test_at_headquarters_the_task_does_nothing(edge_env, calls):
    edge_env.setenv("LIUZHUAN_NODE", "server")
    assert sync_mod.sync_node() is None and calls == []


def test_a_run_never_overlaps_the_previous_one(edge_env, calls, tmp_path):
    settings = _settings(tmp_path, **EDGE)
    with sync_mod.exclusive(settings) as mine:
        assert mine
        assert sync_mod.sync_node() is None and calls == []  # the previous run still holds it
    assert sync_mod.sync_node() == 0 and len(calls) == 1  # released: the next tick syncs


def test_a_run_never_overlaps_through_redis(edge_env, calls, tmp_path):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_unavailable("Redis", exc)
    edge_env.setenv("REDIS_URL", REDIS_URL)
    settings = _settings(tmp_path, **EDGE, REDIS_URL=REDIS_URL)
    redis.Redis.from_url(REDIS_URL).delete(sync_mod.LOCK_NAME)
    with sync_mod.exclusive(settings) as mine:
        assert mine
        assert sync_mod.sync_node() is None and calls == []
    assert sync_mod.sync_node() == 0 and len(calls) == 1
    assert redis.Redis.from_url(REDIS_URL).get(sync_mod.LOCK_NAME) is None  # released after the run
