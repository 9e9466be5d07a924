"""Entry point for `celery -A workflows.worker worker|beat` (the only module-level app).

The composition root of the worker, as app.factory is the web's: channels' after-commit handlers
register here, so workflows/ itself never imports a channel.
"""

import bot.push  # noqa: F401  (the bots' relay handlers: voice recognition, pushed replies)
from app.settings import Settings
from workflows.celery_app import create_celery

app = create_celery(Settings.from_env())
