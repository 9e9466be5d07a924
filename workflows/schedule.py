"""Every periodic job, declared in one place."""

from __future__ import annotations

from typing import Any


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Return Celery beat's schedule."""
    return {
        # The relay is kicked after each commit later (issue 5); the sweep catches anything missed.
        "outbox-sweep": {"task": "workflows.tasks.relay_outbox", "schedule": 5.0},
    }
