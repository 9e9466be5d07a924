"""计划 › 偏差归因: a closed week's forecast misses with their ranked causes and the overrides' track record.

Reads models.queries.forecast_bias (the same query as GET /api/v1/planning/bias); writes nothing.
"""

from __future__ import annotations

from datetime import date

from flask import request
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.planning_view import VERDICT_LABELS
from console.web import actor, member_page, read_db, render
from models.actor import Permission
from models.errors import DomainError
from models.queries.forecast_bias import LABELS, forecast_bias


def _week_arg(raw: str | None) -> date | None:
    """The picked Monday (ISO date); junk is None here and the query's week check says why."""
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isascii() or len(text) != 10:
        return date(1, 1, 1)  # refused by the query with its Chinese message
    try:
        return date.fromisoformat(text)
    except ValueError:
        return date(1, 1, 1)


@bp.get("/planning/bias")
@member_page(Permission.PLAN)
def planning_bias() -> ResponseReturnValue:
    """The week picker, the misses (forecast, actual, error %, top cause and the others) and the overrides' record."""
    week = _week_arg(request.args.get("week"))
    error, status = None, 200
    try:
        board = forecast_bias(read_db(), actor(), week=week)
    except DomainError as exc:  # a week that is no Monday or has not closed: the last full week, with why
        read_db().rollback()
        error, status = exc.message, 422
        board = forecast_bias(read_db(), actor())
    return render("console/planning/bias.html", status=status, board=board, error=error, verdicts=VERDICT_LABELS,
                  cause_labels=LABELS)
