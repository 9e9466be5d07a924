"""协同 · 事件健康: processing time p95, retry rate and consistency-check pass rate over time, each
drawn against its threshold (ECharts); the thresholds are set here too; and the edge nodes' sync
figures (lag, rows waiting, rows up/down, open conflicts: the same query as 站点节点)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.collaboration.common import decimal_field
from console.filters import local_time
from console.forms import new_request_id, request_key
from console.web import actor, call, can_anywhere, done, member_page, read_db, render
from models.actor import Permission
from models.errors import DomainError
from models.operations.health_thresholds import SetHealthThresholds, set_health_thresholds
from models.queries.event_health_series import SPANS, HealthSeries, health_series
from models.queries.nodes import list_nodes

SPAN_LABELS = {"24h": "最近 24 小时（每小时）", "14d": "最近 14 天（每天）"}


def _chart(series: HealthSeries, key: str, title: str, unit: str, threshold: float, scale: float = 1) -> dict[str, Any]:
    """An ECharts option: the metric per bucket and its threshold as a dashed line."""
    fmt = "%H:%M" if series.span == "24h" else "%m-%d"
    labels = [local_time(b.start, fmt) for b in series.buckets]
    values = [None if getattr(b, key) is None else round(getattr(b, key) * scale, 2) for b in series.buckets]
    return {
        "title": {"text": title, "left": 0, "top": 0, "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "legend": {"bottom": 0},
        "grid": {"left": 56, "right": 16, "top": 64, "bottom": 48},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": {"type": "value", "name": unit, "nameGap": 12},
        "series": [
            {"name": title, "type": "line", "data": values, "connectNulls": False, "symbolSize": 6},
            {"name": "阈值", "type": "line", "data": [round(threshold * scale, 2)] * len(labels),
             "lineStyle": {"type": "dashed", "color": "#b3261e"}, "itemStyle": {"color": "#b3261e"},
             "symbol": "none"},
        ],
    }


def _page(span: str, *, status: int = 200, error: str | None = None) -> ResponseReturnValue:
    who = actor()
    series = health_series(read_db(), who, span)
    t = series.thresholds
    charts = {
        "health-latency": _chart(series, "latency_p95_ms", "处理时间 p95", "毫秒", float(t.latency_p95_ms)),
        "health-retry": _chart(series, "retry_rate", "重试率", "%", float(t.retry_rate), 100),
        "health-checks": _chart(series, "check_pass_rate", "一致性检查通过率", "%", float(t.check_pass_rate), 100),
    }
    return render("console/collaboration/health.html", status=status, series=series, charts=charts, span=series.span,
                  spans=SPAN_LABELS, error=error, t=t, hundred=Decimal(100), nodes=list_nodes(read_db(), who),
                  may_change=can_anywhere(who, Permission.ROLES), request_id=new_request_id())


@bp.get("/collaboration/health")
@member_page(Permission.RULES)
def collaboration_health() -> ResponseReturnValue:
    span = request.args.get("span", "24h")
    return _page(span if span in SPANS else "24h")


@bp.post("/collaboration/health/thresholds")
@member_page(Permission.RULES)
def collaboration_health_thresholds() -> ResponseReturnValue:
    form = request.form
    try:
        command = SetHealthThresholds(
            latency_p95_ms=decimal_field(form.get("latency_p95_ms"), "处理时间阈值", "latency_p95_ms"),
            retry_rate=decimal_field(form.get("retry_rate"), "重试率阈值", "retry_rate") / 100,
            check_pass_rate=decimal_field(form.get("check_pass_rate"), "通过率阈值", "check_pass_rate") / 100)
        call(set_health_thresholds, command, key=request_key())
    except DomainError as exc:
        return _page("24h", status=exc.http_status, error=f"{exc.message}（{exc.code}）")
    return done("事件健康阈值已保存", url_for("console.collaboration_health"))
