"""Workflows over HTTP: event health (JSON and Prometheus), dead letters, rules, chains, webhooks.

The API routes (workflows_api.events, workflows_api.config) go through miniprogram_api.skeleton;
/metrics is a Prometheus scrape, not an API route.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from sqlalchemy.orm import Session

from miniprogram_api.errors import Unauthenticated
from models.db import read_only
from workflows.health import event_health, prometheus_text

metrics_bp = Blueprint("metrics", __name__)


@metrics_bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text for every organisation: behind METRICS_TOKEN (always set in production), cached."""
    ext = current_app.extensions["liuzhuan"]
    token = ext["settings"].metrics_token
    if ext["settings"].production and not token:
        abort(404)  # production without a scrape token: no metrics endpoint at all
    if token and not hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                         f"Bearer {token}".encode()):
        raise Unauthenticated("读取监控指标需要 METRICS_TOKEN")
    # The consistency checks scan every organisation: one computation serves scrapes for a while.
    cache = ext.setdefault("metrics_cache", {})
    if cache.get("until", 0.0) <= time.monotonic():
        with Session(read_only(ext["engine"])) as session:
            cache["text"] = prometheus_text(event_health(session))
        cache["until"] = time.monotonic() + ext["settings"].metrics_cache_seconds
    return Response(cache["text"], mimetype="text/plain; version=0.0.4")


def init_workflows(app: Flask, overrides: dict[str, str] | None = None) -> None:
    """Register the workflows blueprints and kick the relay after commits that wrote events."""
    from workflows_api import collaboration, config, events, nodes  # noqa: F401  (collaboration adds routes to config.api)

    app.register_api(events.api)  # type: ignore[attr-defined]  # the app is a flask_openapi3.OpenAPI
    app.register_api(config.api)  # type: ignore[attr-defined]
    app.register_api(nodes.api)  # type: ignore[attr-defined]
    app.register_api(nodes.hello_api)  # type: ignore[attr-defined]
    app.register_blueprint(metrics_bp)
    if app.extensions["liuzhuan"]["settings"].relay_kick:
        from workflows.celery_app import create_celery
        from workflows.kick import install_relay_kick

        settings = app.extensions["liuzhuan"]["settings"]
        celery_holder: dict[str, Any] = {}

        def kick() -> None:
            if "app" not in celery_holder:
                celery_holder["app"] = create_celery(settings)
            celery_holder["app"].send_task("workflows.tasks.relay_outbox", kwargs={"limit": 500})

        install_relay_kick(app.extensions["liuzhuan"]["session_factory"], kick)
