"""The edge node's continuous sync: Celery beat runs the exchange with headquarters every
LIUZHUAN_SYNC_INTERVAL seconds (workflows/schedule.py schedules it only at an edge node).

Runs never overlap: a second one that starts while one is still exchanging (a slow uplink, a tick
queued behind a long run) returns at once. The guard is a Redis lock when the worker has Redis, else
an flock on a file under LIUZHUAN_VAR_DIR (an edge box usually runs the embedded broker: one machine,
and the kernel drops the lock with a process that dies, so a killed worker never blocks the next run).
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from celery import shared_task

from app.node_sync import sync_once
from app.settings import Settings, current
from models import node
from workflows.tasks import session_factory

log = logging.getLogger(__name__)

LOCK_NAME = "liuzhuan:node-sync"
#: A Redis lock outlives a worker killed mid-run by at most this long; well above a long catch-up
#: (each round trip is bounded by app.node_sync.TIMEOUT), so a live run does not lose it.
REDIS_LOCK_SECONDS = 3600


@contextmanager
def exclusive(settings: Settings, name: str = LOCK_NAME) -> Iterator[bool]:
    """Hold the sync lock for the block; yields False (and holds nothing) when another run has it."""
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
        token = uuid.uuid4().hex
        got = bool(client.set(name, token, nx=True, ex=REDIS_LOCK_SECONDS))
        try:
            yield got
        finally:
            if got:  # only our own lock: compare and delete in one step
                client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                            "end return 0", 1, name, token)
        return
    folder = settings.var_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / (name.replace(":", "-") + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def sync_with_headquarters(settings: Settings) -> int | None:
    """One continuous-sync run: exchange until caught up (app.node_sync.sync_once) under the lock.
    Returns sync_once's exit status, or None when this is headquarters or another run holds the lock."""
    if settings.node_name == node.SERVER:
        return None  # never scheduled here; a stray message must not make headquarters call itself
    with exclusive(settings) as mine:
        if not mine:
            log.info("node sync skipped: the previous run is still going")
            return None
        return sync_once(settings, session_factory(), out=log.info)


@shared_task(acks_late=True, ignore_result=True)
def sync_node() -> int | None:
    """Beat task at an edge node: sync with headquarters with the worker's settings."""
    return sync_with_headquarters(current())
