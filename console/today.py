"""首页: what needs a decision now, each with its one-step action."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.web import actor, member_page, read_db, render
from models.queries.todos import todos_for


@bp.get("/")
@member_page()
def today() -> ResponseReturnValue:
    """首页：待我处理的事"""
    return render("console/today.html", todos=todos_for(read_db(), actor()))
