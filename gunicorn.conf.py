"""Gunicorn settings read from the repository root (the Procfile's ``web`` runs gunicorn there)."""

from __future__ import annotations

import gc
from typing import Any

#: Each worker process serves concurrent requests on threads (gunicorn's gthread worker): requests
#: mostly wait on the database or on WeChat/DingTalk, and receipts arriving together commit together
#: only when they reach one process at once (models.group_commit). The Procfile sets the processes.
threads = 4


def post_worker_init(worker: Any) -> None:
    """Move everything the app loaded at start (Flask, SQLAlchemy, the forecasting libraries: about
    300,000 objects) out of the cyclic collector's reach. Otherwise every full collection walks them
    all, and one request in ten or so paid 100–130 ms for it (首页 p95 at 100,000 documents)."""
    gc.freeze()
