"""72小时现金 (the forecast as a chart, with its alert state) and 订单毛利 (the rollup by customer,
item, site or month; one order's or shipment's margin)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.filters import local_time
from console.money import forms
from console.web import actor, member_page, read_db, render
from models.actor import Permission
from models.base import utcnow
from models.errors import NotFound, ValidationError
from models.queries.cash_forecast import KIND_LABELS, MAX_HOURS, CashForecast, cash_forecast
from models.queries.margin import document_id_by_number, document_margin, margin_rollup

GROUPS = {"customer": "客户", "item": "商品", "site": "地点", "month": "月份"}
#: The forecast's items listed under the chart (the rest are in the totals).
ITEMS_SHOWN = 50


def _yuan(value: Decimal) -> float:
    # ECharts draws numbers; the exact figures are in the table under the chart.
    return float(value)


def cash_chart(report: CashForecast) -> dict[str, Any]:
    """The ECharts option: inflow and outflow per hour as bars, the projected balance as a line, the
    minimum (when set) as a dashed line."""
    hours = [local_time(h.starts_at, "%d日%H时") for h in report.by_hour]
    balance: dict[str, Any] = {"name": "预计余额", "type": "line", "showSymbol": False,
                               "data": [_yuan(h.balance) for h in report.by_hour]}
    if report.threshold is not None:
        balance["markLine"] = {"symbol": "none", "lineStyle": {"type": "dashed", "color": "#b42318"},
                               "label": {"formatter": "现金下限"}, "data": [{"yAxis": _yuan(report.threshold)}]}
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 32, "containLabel": True},
        "xAxis": {"type": "category", "data": hours},
        "yAxis": {"type": "value", "name": "元"},
        "series": [
            {"name": "流入", "type": "bar", "stack": "flow", "color": "#2e7d32",
             "data": [_yuan(h.inflow) for h in report.by_hour]},
            {"name": "流出", "type": "bar", "stack": "flow", "color": "#c62828",
             "data": [-_yuan(h.outflow) for h in report.by_hour]},
            balance,
        ],
    }


@bp.get("/money/cash")
@member_page(Permission.VIEW_FINANCE)
def money_cash() -> ResponseReturnValue:
    """Cash and bank now and their projection over the next hours (default 72)."""
    text = request.args.get("hours") or "72"
    if not text.isdigit() or not 1 <= int(text) <= MAX_HOURS:
        raise ValidationError(f"小时数应在 1 到 {MAX_HOURS} 之间", field="hours")
    report = cash_forecast(read_db(), actor().org_id, utcnow(), int(text), items_limit=ITEMS_SHOWN)
    return render("console/money/cash.html", report=report, chart=cash_chart(report),
                  kinds={k.value: v for k, v in KIND_LABELS.items()}, items=report.items)


@bp.get("/money/margin")
@member_page(Permission.VIEW_FINANCE)
def money_margin() -> ResponseReturnValue:
    """Order margin of a date range by customer, item, site or month (default: this month by customer)."""
    today = forms.today()
    group_by = forms.choice(request.args.get("group_by"), tuple(GROUPS), "group_by")
    date_from = forms.day(request.args.get("date_from"), "date_from", today.replace(day=1))
    date_to = forms.day(request.args.get("date_to"), "date_to", today)
    report = margin_rollup(read_db(), actor().org_id, date_from, date_to, group_by)
    return render("console/money/margin.html", report=report, groups=GROUPS)


@bp.get("/money/margin/find")
@member_page(Permission.VIEW_FINANCE)
def money_margin_find() -> ResponseReturnValue:
    """Open an order's or shipment's margin by its number (XS-…, CK-…)."""
    number = (request.args.get("number") or "").strip()[:48]
    found = document_id_by_number(read_db(), actor().org_id, number) if number else None
    if found is None:
        raise NotFound(f"找不到单据 {number}", entity="Document", id=number)
    return redirect(url_for("console.money_margin_document", document_id=found), code=303)


@bp.get("/money/margin/<int:document_id>")
@member_page(Permission.VIEW_FINANCE)
def money_margin_document(document_id: int) -> ResponseReturnValue:
    """One sales order's or shipment's margin, shipment by shipment."""
    return render("console/money/margin_document.html",
                  report=document_margin(read_db(), actor().org_id, document_id))
