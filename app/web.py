"""Health check and a read-only overview of the books, for operators and newcomers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, render_template
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models.actor import Actor
from models.ledger import fmt_qty
from models.org import Org
from models.queries.overview import org_overview

web = Blueprint("web", __name__)


@web.app_template_filter("qty")
def qty(value: Decimal) -> str:
    """23.5, 30: a quantity as the bot and /stock print it (str(Decimal.normalize()) says 3E+1)."""
    return fmt_qty(value)


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
    if current_app.extensions["liuzhuan"]["settings"].production:
        abort(404)
    session = db()
    orgs = list(session.scalars(select(Org.id).order_by(Org.id)))
    # No signed-in member here (a non-production operators' page): each org's system actor reads it.
    return render_template("overview.html", views=[org_overview(session, Actor.system_actor(org_id, "总览页"))
                                                   for org_id in orgs])
