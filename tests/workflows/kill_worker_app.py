"""A worker app for the kill test: Redis with a short visibility timeout and one slow test handler."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import workflows.handlers  # noqa: F401  (the real handlers too)
from app.settings import Settings
from models.event_log import Notification
from workflows.celery_app import create_celery
from workflows.relay import registry

app = create_celery(Settings.from_env())
if str(app.conf.broker_url).startswith("redis"):
    # Restore sweeps every second, so a message past its 2 s visibility timeout comes back promptly.
    app.conf.broker_transport_options = {"visibility_timeout": 2, "unacked_restore_throttle": 1,
                                         "unacked_restore_interval": 1}
app.conf.task_default_queue = os.environ.get("LIUZHUAN_TEST_QUEUE", "celery")


@registry.register("test.kill", "test.slow")
def slow(session, event) -> None:  # type: ignore[no-untyped-def]
    """Write a row, then hang while the flag file exists (the test kills the worker here)."""
    session.add(Notification(org_id=event.org_id, channel="test", kind=event.kind, title="kill test",
                             dedupe_key=f"kill-{event.id}-{uuid.uuid4().hex[:8]}"))
    session.flush()
    flag = Path(event.payload["flag"])
    if flag.exists():
        Path(event.payload["started"]).touch()
        deadline = time.monotonic() + 120
        while flag.exists() and time.monotonic() < deadline:  # hang until killed (or the flag goes)
            time.sleep(0.05)
