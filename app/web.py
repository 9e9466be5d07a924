"""Health check, and ``/`` sending a developer to the manager console (production: 404)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, redirect
from sqlalchemy import text
from sqlalchemy.orm import Session

web = Blueprint("web", __name__)


def db() -> Session:
    """Return this request's session (closed at teardown)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["liuzhuan"]["session_factory"]()
    return g.db_session


@web.get("/healthz")
def healthz() -> Any:
    db().execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


@web.get("/")
def index() -> Any:
    # The manager console (/console) is the place to look at the books; production serves no page at /.
    if current_app.extensions["liuzhuan"]["settings"].production:
        abort(404)
    return redirect("/console/")
