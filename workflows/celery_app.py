"""The Celery application: Redis in production, a file-system broker when embedded."""

from __future__ import annotations

from celery import Celery

from app.settings import Settings
from models import node
from workflows.schedule import beat_schedule


def create_celery(settings: Settings) -> Celery:
    """Create the Celery app for ``settings`` (no broker connection is made here)."""
    node.configure(settings.node_name)  # the worker's postings number and write moves as this node
    app = Celery("liuzhuan", include=["workflows.tasks", "workflows.planning", "workflows.retention",
                                        "workflows.sync"])
    transport_options: dict[str, str | int | bool]
    if settings.redis_url:
        broker, transport_options = settings.redis_url, {"visibility_timeout": 3600}
    else:
        # No server needed: kombu's file-system transport works across processes, with beat.
        folder = settings.var_dir / "broker"
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        broker = "filesystem://"
        transport_options = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    app.conf.update(
        broker_url=broker,
        broker_transport_options=transport_options,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        timezone="Asia/Shanghai",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
        broker_connection_retry_on_startup=True,
    )
    app.conf.liuzhuan_settings = settings
    return app
