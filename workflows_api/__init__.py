"""Workflows over HTTP: event health (JSON and Prometheus), dead letters, rules, chains, webhooks.

A channel: authenticates with the API's bearer token (miniprogram_api.auth), calls operations.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import reader, transact
from miniprogram_api.errors import Unauthenticated
from miniprogram_api.jsonfields import id_list, json_object
from models.actor import Actor, Permission
from models.db import read_only
from workflows.health import event_health, prometheus_text
from workflows.relay import dead_letters, replay_dead
from workflows_api.config import bp as config_bp  # rules, chains, webhooks, devices

bp = Blueprint("workflows", __name__, url_prefix="/api/v1/workflows")
metrics_bp = Blueprint("metrics", __name__)


@bp.get("/health")
def health() -> Any:
    """Event health for the caller's organisation, as JSON."""
    session, actor = reader()
    return jsonify(event_health(session, actor.org_id).to_dict())


@bp.get("/dead-letters")
def list_dead() -> Any:
    session, actor = reader()
    return jsonify([{"id": r.id, "event_id": str(r.event_id), "handler": r.handler, "kind": r.kind,
                     "attempts": r.attempts, "error": r.last_error} for r in dead_letters(session, actor.org_id)])


@bp.post("/dead-letters/replay")
def replay() -> Any:
    """Put dead letters back in line (relay bookkeeping, not business state: no operation needed)."""
    ids = id_list(json_object().get("ids"), "ids") or ()

    def put_back(session: Session, actor: Actor) -> int:
        actor.require(Permission.ROLES)
        return replay_dead(session, list(ids), org_id=actor.org_id)

    return jsonify({"replayed": transact(put_back)})


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
    app.register_blueprint(bp)
    app.register_blueprint(config_bp)
    app.register_blueprint(metrics_bp)
    env = {**os.environ, **(overrides or {})}
    if env.get("LIUZHUAN_RELAY_KICK", "1") != "0":
        from workflows.celery_app import create_celery
        from workflows.kick import install_relay_kick

        settings = app.extensions["liuzhuan"]["settings"]
        celery_holder: dict[str, Any] = {}

        def kick() -> None:
            if "app" not in celery_holder:
                celery_holder["app"] = create_celery(settings)
            celery_holder["app"].send_task("workflows.tasks.relay_outbox", kwargs={"limit": 500})

        install_relay_kick(app.extensions["liuzhuan"]["session_factory"], kick)
