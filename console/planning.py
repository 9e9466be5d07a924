"""计划: the latest forecast by item × site, one item × site with its chart and overrides, the
sandbox, and the replenishment suggestions to accept or dismiss.

Reads are models.queries.planning_board (the same as GET /api/v1/planning/board*); changes are the
planning operations (override_forecast, cancel_override, recompute_replenishment,
accept_suggestion, dismiss_suggestion) through console.web.call, each with the form's one-time
request id as its idempotency key.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from console.blueprint import bp
from console.forms import MAX_ID, new_request_id, request_key
from console.planning_view import (
    MAX_QUANTITY,
    RUN_STATUS_LABELS,
    SUGGESTION_STATUSES,
    VERDICT_LABELS,
    day_chart,
    decimal_field,
    forecast_chart,
    frequency_field,
    int_field,
    path_ids,
    projection_chart,
    reason_field,
    warning_label,
    week_field,
)
from console.web import actor, call, done, member_page, read_db, render
from exports.planning_xlsx import planning_xlsx
from exports.xlsx import XLSX_MIME
from models import forecasting
from models.actor import Permission
from models.errors import DomainError
from models.operations.forecast_overrides import CancelOverride, OverrideForecast, cancel_override, override_forecast
from models.operations.planning import FREQUENCIES, RunForecast, run_forecast
from models.operations.planning_days import DAY_HORIZON_MAX
from models.operations.planning_sandbox import PlanningSandbox, SandboxResult, run_planning_sandbox
from models.operations.replenishment import (
    AcceptSuggestion,
    DismissSuggestion,
    RecomputeReplenishment,
    accept_suggestion,
    dismiss_suggestion,
    recompute_replenishment,
)
from models.queries.desk_pickers import desk_pickers
from models.queries.forecast_days import item_site_days
from models.queries.planning_board import (
    Names,
    export_lines,
    item_site_plan,
    names,
    planning_board,
    suggestion_page,
)
from models.queries.print_documents import org_name

#: Rows of the workbook's suggestion sheet (newest first).
EXPORT_SUGGESTIONS = 5000


def _labels() -> dict[str, Any]:
    return {"run_status": RUN_STATUS_LABELS, "methods": forecasting.methods(), "warning_label": warning_label,
            "verdicts": VERDICT_LABELS, "frequencies": FREQUENCIES}


@bp.get("/planning")
@member_page(Permission.PLAN)
def planning() -> ResponseReturnValue:
    """计划 home: the latest forecast run and its item × site list, 50 a page."""
    board = planning_board(read_db(), actor(), after=request.args.get("after"))
    return render("console/planning/home.html", board=board, request_id=new_request_id(), **_labels())


@bp.get("/planning/<int:item_id>/<int:site_id>")
@member_page(Permission.PLAN)
def planning_item(item_id: int, site_id: int) -> ResponseReturnValue:
    """One item × site: the chart, the explanation, the override form and the overrides."""
    path_ids(item_id=item_id, site_id=site_id)
    session, who = read_db(), actor()
    plan = item_site_plan(session, who, item_id, site_id)
    days = None
    if plan.run is not None and plan.run.get("frequency") == "day":
        days = item_site_days(session, who, plan.run["id"], plan.item_id, plan.site_id)
    explanation = plan.lines[0].explanation if plan.lines else None
    if days is not None and days.days:  # a day run explains its first day
        explanation = days.days[0].explanation
    return render("console/planning/item.html", plan=plan, chart=forecast_chart(plan), request_id=new_request_id(),
                  explanation=explanation, days=days, day_chart=day_chart(days, plan.unit) if days else None,
                  **_labels())


@bp.post("/planning/<int:item_id>/<int:site_id>/override")
@member_page(Permission.PLAN)
def planning_override(item_id: int, site_id: int) -> ResponseReturnValue:
    """Override the forecast of an item × site from a week, for some weeks, with a reason."""
    path_ids(item_id=item_id, site_id=site_id)
    form = request.form
    key = request_key("forecast.override", required=True)
    plan = item_site_plan(read_db(), actor(), item_id, site_id)  # NotFound for another org's item or site
    week = week_field(form.get("week"), [ln.week for ln in plan.lines])
    weeks = int_field(form.get("weeks") or "1", "weeks", "调整周数", low=1, high=52)
    value = decimal_field(form.get("quantity"), "quantity", "调整后的数量", low=Decimal(0), high=MAX_QUANTITY)
    reason = reason_field(form.get("reason"), "调整原因")
    result = call(override_forecast, OverrideForecast(item_id=plan.item_id, site_id=plan.site_id, from_week=week,
                                                      weeks=weeks, reason=reason, set_value=value), key=key)
    return done(f"已调整 {result.lines_changed} 周的预测", url_for("console.planning_item", item_id=item_id,
                                                               site_id=site_id))


@bp.post("/planning/overrides/<int:override_id>/cancel")
@member_page(Permission.PLAN)
def planning_override_cancel(override_id: int) -> ResponseReturnValue:
    """Withdraw an override (with a reason): its weeks go back to the model."""
    path_ids(override_id=override_id)
    reason = reason_field(request.form.get("reason"), "撤销原因")
    result = call(cancel_override, CancelOverride(override_id, reason),
                  key=request_key(f"forecast.override_cancel.{override_id}", required=True))
    return done(f"已撤销调整，{result.lines_changed} 周恢复为模型预测")


@bp.get("/planning/sandbox")
@member_page(Permission.PLAN)
def planning_sandbox() -> ResponseReturnValue:
    """The sandbox: other parameters, stock-out weeks and stock value before/after; writes nothing."""
    args = request.args
    scope: dict[str, int] = {}
    for name in ("item_id", "site_id"):
        if args.get(name):
            scope[name] = int_field(args.get(name), name, "编号", low=1, high=MAX_ID)
    form = {k: args.get(k, "") for k in ("service_level", "lead_time_weeks", "horizon")}
    if not args.get("run"):
        return render("console/planning/sandbox.html", form=form, scope=scope, result=None, error=None,
                      **_names_of(scope))
    try:
        cmd = _sandbox_command(form, scope)
        result = run_planning_sandbox(read_db(), actor(), cmd)
    except DomainError as exc:  # junk parameters or another org's ids: the form again, with why
        read_db().rollback()
        return render("console/planning/sandbox.html", status=exc.http_status if exc.http_status != 400 else 422,
                      form=form, scope=scope, result=None, error=exc.message, **_names_of(scope, safe=True))
    finally:
        read_db().rollback()  # the sandbox writes nothing; nothing of it may linger either
    found = names(read_db(), actor(), {r.item_id for r in result.rows}, {r.site_id for r in result.rows})
    return render("console/planning/sandbox.html", form=form, scope=scope, result=result, error=None,
                  chart=_sandbox_chart(result, found), names=found, **_names_of(scope))


def _sandbox_command(form: dict[str, str], scope: dict[str, int]) -> PlanningSandbox:
    level = decimal_field(form["service_level"], "service_level", "服务水平（%）", low=Decimal(50),
                          high=Decimal("99.9"), required=False)
    lead = decimal_field(form["lead_time_weeks"], "lead_time_weeks", "提前期（周）", low=Decimal(0),
                         high=Decimal(104), required=False)
    horizon = int_field(form["horizon"], "horizon", "预测周数", low=1, high=52) if form["horizon"] else None
    # another organisation's item or site: NotFound (the sandbox itself would just find no demand)
    names(read_db(), actor(), [scope["item_id"]] if "item_id" in scope else [],
          [scope["site_id"]] if "site_id" in scope else [])
    return PlanningSandbox(
        service_level=float(level / 100) if level is not None else None,
        lead_time_weeks=float(lead) if lead is not None else None, horizon=horizon,
        item_ids=(scope["item_id"],) if "item_id" in scope else None,
        site_ids=(scope["site_id"],) if "site_id" in scope else None)


def _names_of(scope: dict[str, int], *, safe: bool = False) -> dict[str, Any]:
    """The names of the item and site the sandbox is limited to (None: not limited, or not found)."""
    none = {"scope_item": None, "scope_site": None}
    if not scope:
        return none
    try:
        found = names(read_db(), actor(), [scope["item_id"]] if "item_id" in scope else [],
                      [scope["site_id"]] if "site_id" in scope else [])
    except DomainError:
        if not safe:
            raise
        return none
    item = found.items.get(scope.get("item_id", 0))
    return {"scope_item": item[0] if item else None, "scope_site": found.sites.get(scope.get("site_id", 0))}


def _sandbox_chart(result: SandboxResult, found: Names) -> dict[str, Any] | None:
    """The projected stock of the one item × site the sandbox was limited to (many: the table says it)."""
    if len(result.rows) != 1:
        return None
    row = result.rows[0]
    live = row.live["projection"] if row.live else None
    unit = found.items.get(row.item_id, ("", ""))[1]
    return projection_chart(len(row.sandbox["projection"]), live, row.sandbox["projection"], unit)


@bp.get("/planning/suggestions")
@member_page(Permission.PLAN)
def planning_suggestions() -> ResponseReturnValue:
    """Replenishment suggestions in one status, newest first, 50 a page."""
    status = request.args.get("status", "proposed")
    if status not in SUGGESTION_STATUSES:
        status = "proposed"
    before = request.args.get("before_id", "")
    before_id = int(before) if before.isascii() and before.isdecimal() and len(before) < 19 else None
    who, db = actor(), read_db()
    page = suggestion_page(db, who, status=status, before_id=before_id)
    # The desk pickers' suppliers: exactly the parties accept_suggestion takes for a purchase.
    suppliers = desk_pickers(db, who).suppliers if status == "proposed" else []
    return render("console/planning/suggestions.html", page=page, current=status, statuses=SUGGESTION_STATUSES,
                  suppliers=suppliers, request_id=new_request_id())


@bp.post("/planning/suggestions/<int:suggestion_id>/accept")
@member_page(Permission.PLAN)
def planning_accept(suggestion_id: int) -> ResponseReturnValue:
    """Accept a suggestion: a purchase order or a transfer request, each through its approval."""
    path_ids(suggestion_id=suggestion_id)
    key = request_key(f"replenishment.accept.{suggestion_id}", required=True)
    quantity = decimal_field(request.form.get("quantity"), "quantity", "数量", low=Decimal("0.001"),
                             high=MAX_QUANTITY, required=False)
    raw_party = request.form.get("party_id", "").strip()
    # Empty: the suggestion's own supplier (the operation refuses a purchase that has none).
    party_id = int_field(raw_party, "party_id", "供应商", low=1, high=MAX_ID) if raw_party else None
    result = call(accept_suggestion, AcceptSuggestion(suggestion_id, quantity=quantity, party_id=party_id), key=key)
    made = {"purchase": "，已生成采购订单（待审批）", "transfer": "，已生成调拨申请（待审批）"}
    return done(f"已采纳建议{made.get(result.kind, '')}")


@bp.post("/planning/suggestions/<int:suggestion_id>/dismiss")
@member_page(Permission.PLAN)
def planning_dismiss(suggestion_id: int) -> ResponseReturnValue:
    """Dismiss a suggestion with a reason."""
    path_ids(suggestion_id=suggestion_id)
    reason = reason_field(request.form.get("reason"), "忽略原因")
    call(dismiss_suggestion, DismissSuggestion(suggestion_id, reason),
         key=request_key(f"replenishment.dismiss.{suggestion_id}", required=True))
    return done("已忽略该建议")


@bp.post("/planning/recompute")
@member_page(Permission.PLAN)
def planning_recompute() -> ResponseReturnValue:
    """Recompute safety stock and suggestions from the latest forecast."""
    result = call(recompute_replenishment, RecomputeReplenishment(),
                  key=request_key("replenishment.recompute", required=True))
    if result.run_id is None:
        return done("还没有完成的预测：没有补货建议")
    return done(f"已重新计算：{result.safety_stocks} 个商品 × 地点，{len(result.suggestions)} 条建议")


@bp.post("/planning/forecast")
@member_page(Permission.PLAN)
def planning_forecast() -> ResponseReturnValue:
    """Run a forecast now, by week or by day (synchronously; overrides stay applied)."""
    frequency = frequency_field(request.form.get("frequency"))
    raw = request.form.get("horizon", "").strip()
    # left to the setting: the operation checks the horizon against the setting's frequency
    label, high = {"week": ("预测周数", 52), "day": ("预测天数", DAY_HORIZON_MAX)}.get(
        frequency or "", ("预测周数或天数", DAY_HORIZON_MAX))
    horizon = int_field(raw, "horizon", label, low=1, high=high) if raw else None
    result = call(run_forecast, RunForecast(horizon=horizon, frequency=frequency),
                  key=request_key("forecast.run", required=True))
    if result.status != "completed":
        return done(f"预测失败：{result.error or '未知原因'}")
    if result.frequency == "day":
        return done(f"按日预测完成：{result.series} 个商品 × 地点，{result.day_lines} 天行，"
                    f"{result.lines} 个完整周（每周 = 各日之和）")
    return done(f"预测完成：{result.series} 个商品 × 地点，共 {result.lines} 行")


@bp.get("/planning/export.xlsx")
@member_page(Permission.PLAN)
def planning_export() -> ResponseReturnValue:
    """The latest forecast's lines and the proposed suggestions as .xlsx."""
    session, who = read_db(), actor()
    found = export_lines(session, who)
    rows = suggestion_page(session, who, limit=EXPORT_SUGGESTIONS).rows
    data = planning_xlsx(org_name(session, who.org_id), found.run, found.lines, found.items, found.sites, rows)
    filename = f"需求计划_{found.run['first_week']}.xlsx" if found.run else "需求计划.xlsx"
    response = Response(data, content_type=XLSX_MIME)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"planning.xlsx\"; filename*=UTF-8''{quote(filename, safe='')}")
    response.headers["Cache-Control"] = "no-store"
    return response
