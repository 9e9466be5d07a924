"""Health check and a read-only overview of the books, for operators and newcomers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, render_template
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models.catalog import Item
from models.documents import Document
from models.finance import FarmerSettlement
from models.invariants import check_all
from models.operations.common import STATUS_LABELS
from models.org import Org, Party, Site, SiteKind
from models.queries import lot_levels, stock_level

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


def _overview(session: Session, org: Org) -> dict[str, Any]:
    sites = list(session.scalars(select(Site).where(Site.org_id == org.id, Site.kind != SiteKind.IN_TRANSIT)))
    items = list(session.scalars(select(Item).where(Item.org_id == org.id).order_by(Item.code)))
    stock = [
        {"site": s.name, "item": i.name, "unit": i.base_unit, "level": stock_level(session, org.id, i.id, s.id),
         "lots": lot_levels(session, org.id, i.id, s.id)}
        for s in sites for i in items
    ]
    docs = list(session.scalars(select(Document).where(Document.org_id == org.id)
                                .order_by(Document.id.desc()).limit(20)))
    parties = {p.id: p.name for p in session.scalars(select(Party).where(Party.org_id == org.id))}
    owed = list(session.scalars(select(FarmerSettlement).where(FarmerSettlement.org_id == org.id)
                                .order_by(FarmerSettlement.id.desc()).limit(20)))
    return {"org": org, "stock": stock, "documents": docs, "parties": parties, "settlements": owed,
            "status_labels": STATUS_LABELS, "checks": check_all(session, org.id)}


@web.get("/")
def index() -> Any:
    if current_app.extensions["liuzhuan"]["settings"].production:
        abort(404)
    session = db()
    orgs = list(session.scalars(select(Org).order_by(Org.id)))
    return render_template("overview.html", views=[_overview(session, org) for org in orgs])
