"""Flask application factory: no import-time side effects, extensions bound per app."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g, jsonify
from flask_compress import Compress
from flask_openapi3 import Info, OpenAPI
from sqlalchemy.orm import Session

from app.hardening import install as install_hardening
from app.settings import Settings
from media.storage import LocalMediaStorage
from miniprogram_api.errors import ErrorBody, validation_error_response
from models import node
from models.db import make_engine, make_session_factory
from models.errors import DomainError


def create_app(overrides: dict[str, str] | None = None) -> Flask:
    """Create the web app; ``overrides`` replace environment settings (tests)."""
    settings = Settings.from_env({**os.environ, **(overrides or {})})
    node.configure(settings.node_name)  # the numbers and moves this process makes carry its node code
    app = OpenAPI(
        __name__,
        info=Info(title="流转 Liuzhuan API", version="1"),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        validation_error_status=422,
        validation_error_model=ErrorBody,
        validation_error_callback=validation_error_response,
    )
    app.config["SECRET_KEY"] = settings.secret_key
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable
    engine = make_engine(settings.database_url)
    # "media": the one media storage every channel reads photos through (models.queries.photos).
    app.extensions["liuzhuan"] = {"settings": settings, "engine": engine,
                                  "session_factory": make_session_factory(engine),
                                  "media": LocalMediaStorage(settings.media_root)}

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Any:
        return jsonify({"error": exc.to_dict()}), exc.http_status

    install_hardening(app, settings)  # guards, JSON errors (503 when the DB is down), headers, log redaction
    # Pages, scripts and JSON go compressed when the client asks (weak mobile links); small bodies as they are.
    app.config.update(COMPRESS_MIN_SIZE=500, COMPRESS_ALGORITHM=["br", "gzip"])
    Compress(app)

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.close()

    from app.web import web
    from miniprogram_api import register as register_api

    app.register_blueprint(web)
    register_api(app)
    from bot.web import init_bot  # issue 4: chat bots (WeChat, WeCom, DingTalk)

    init_bot(app, overrides)
    from cards.callback import bp as card_callbacks  # issue 5: card callbacks, event health, rules, webhooks
    from workflows_api import init_workflows

    app.register_blueprint(card_callbacks)
    init_workflows(app, overrides)
    from miniprogram_api.skeleton import document_raw_routes
    from planning_api import register as register_planning  # issue 6: demand planning

    register_planning(app)
    document_raw_routes(app)  # the signed platform callbacks, in the spec as raw bodies
    from console import register as register_console  # issue 13: the manager console

    register_console(app)
    return app


def settings_of(app: Flask) -> Settings:
    """Return the settings an app was created with."""
    return app.extensions["liuzhuan"]["settings"]
