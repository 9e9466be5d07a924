"""Entry point for `celery -A workflows.worker worker|beat` (the only module-level app)."""

from app.settings import Settings
from workflows.celery_app import create_celery

app = create_celery(Settings.from_env())
