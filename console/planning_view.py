"""What the 计划 pages show besides the query results: strict form parsing, Chinese labels, chart options.

Pure helpers (no database): the pages in console/planning.py call them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from console.forms import path_id
from models.errors import ValidationError
from models.operations.planning import FREQUENCIES
from models.queries.forecast_days import ItemSiteDays
from models.queries.planning_board import HistoryWeek, ItemSitePlan
from models.queries.planning_lists import ForecastLineRow

#: Forecast warnings (stable codes from the engine) as a planner reads them.
WARNING_LABELS = {
    "SHORT_HISTORY": "历史数据偏少", "ALL_ZERO": "历史需求全为零", "NEGATIVE_CLIPPED": "负值已按零计",
    "CENSORED_WEEKS": "部分周有缺货，实际需求可能更高", "GAPS_FILLED": "缺失的周已补零",
    "BACKTEST_FAILED": "回测未能完成", "METHOD_FAILED": "所选方法失败", "METHOD_FALLBACK": "已改用备用方法",
    "HOLIDAY_CALENDAR_UNKNOWN": "节假日安排尚未公布", "PROMO_UPLIFT_APPLIED": "已按促销预计提升调整",
    "RECONCILED": "已与各日预测对齐（本周 = 各日之和）",
}
RUN_STATUS_LABELS = {"completed": "已完成", "failed": "失败", "running": "计算中"}
VERDICT_LABELS = {"helped": "调整有益", "hurt": "调整有害", "neutral": "调整无影响", "unscored": "无法评分"}
SUGGESTION_STATUSES = {"proposed": "待处理", "accepted": "已采纳", "dismissed": "已忽略", "superseded": "已被取代",
                       "all": "全部"}
#: No co-op forecasts or orders more than this in one week of one item (a typo, not a plan).
MAX_QUANTITY = Decimal(10) ** 9


def path_ids(**ids: int) -> None:
    """Refuse an absurd id in a URL as not found (the same answer as another organisation's id)."""
    for value in ids.values():
        path_id(value)


def warning_label(code: str) -> str:
    return WARNING_LABELS.get(code, "其他提示")


# -- strict parsing -------------------------------------------------------------------------------


def decimal_field(raw: str | None, field: str, label: str, *, low: Decimal, high: Decimal,
                  required: bool = True) -> Decimal | None:
    """A finite decimal within [low, high] written in ASCII digits, or a Chinese ValidationError."""
    text = (raw or "").strip()
    if not text:
        if required:
            raise ValidationError(f"请填写{label}", field=field)
        return None
    if not text.isascii() or len(text) > 20:
        raise ValidationError(f"{label}须是数字", field=field)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{label}须是数字", field=field) from None
    if not value.is_finite() or not low <= value <= high:
        raise ValidationError(f"{label}须在 {low:f} 到 {high:f} 之间", field=field)
    return value


def frequency_field(raw: str | None) -> str | None:
    """按周 / 按日 from the run form (empty: the organisation's setting)."""
    text = (raw or "").strip()
    if not text:
        return None
    if text not in FREQUENCIES:
        raise ValidationError("请选择按周或按日", field="frequency")
    return text


def int_field(raw: str | None, field: str, label: str, *, low: int, high: int) -> int:
    text = (raw or "").strip()
    if not (text.isascii() and text.isdecimal() and len(text) <= 16):
        raise ValidationError(f"{label}须是整数", field=field)
    value = int(text)
    if not low <= value <= high:
        raise ValidationError(f"{label}须在 {low} 到 {high} 之间", field=field)
    return value


def week_field(raw: str | None, allowed: Sequence[date]) -> date:
    """One of the forecast's weeks (a Monday the run forecasts), from its ISO date."""
    try:
        week = date.fromisoformat((raw or "").strip())
    except ValueError:
        raise ValidationError("请选择要调整的周", field="week") from None
    if week not in allowed:
        raise ValidationError("只能调整本次预测中的周", field="week")
    return week


def reason_field(raw: str | None, label: str = "原因") -> str:
    text = (raw or "").strip()
    if not text:
        raise ValidationError(f"请填写{label}", field="reason")
    if len(text) > 200:
        raise ValidationError(f"{label}不能超过 200 字", field="reason")
    return text


# -- charts (ECharts options as plain JSON: no functions, the CSP allows no eval) ------------------


def _num(value: Decimal | float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def forecast_chart(plan: ItemSitePlan) -> dict[str, Any]:
    """History, model forecast, planned figure, 80 %/95 % bands (stacked areas) and the overridden weeks."""
    history: Sequence[HistoryWeek] = plan.history
    lines: Sequence[ForecastLineRow] = plan.lines
    weeks = [h.week for h in history] + [ln.week for ln in lines if not history or ln.week > history[-1].week]
    index = {w: n for n, w in enumerate(weeks)}
    blank: list[float | None] = [None] * len(weeks)

    def column(values: Mapping[date, float | None]) -> list[float | None]:
        out = list(blank)
        for week, value in values.items():
            if week in index:
                out[index[week]] = value
        return out

    actual = column({h.week: _num(h.sale) for h in history})
    lo95 = column({ln.week: _num(ln.lo95) for ln in lines})
    band95 = column({ln.week: _num(ln.hi95 - ln.lo95) for ln in lines})
    lo80 = column({ln.week: _num(ln.lo80) for ln in lines})
    band80 = column({ln.week: _num(ln.hi80 - ln.lo80) for ln in lines})
    mean = column({ln.week: _num(ln.mean) for ln in lines})
    final = column({ln.week: _num(ln.final) for ln in lines})
    marked = column({ln.week: _num(ln.final) for ln in lines if ln.override_id})
    hidden = {"opacity": 0}
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"data": ["实际需求", "模型预测", "计划值", "人工调整", "80% 区间", "95% 区间"], "type": "scroll",
                   "top": 0},
        "grid": {"left": 44, "right": 12, "top": 56, "bottom": 28},
        "xAxis": {"type": "category", "data": [w.strftime("%m-%d") for w in weeks]},
        "yAxis": {"type": "value", "name": plan.unit},
        "series": [
            {"name": "95% 下限", "type": "line", "stack": "b95", "data": lo95, "symbol": "none",
             "lineStyle": hidden, "tooltip": {"show": False}},
            {"name": "95% 区间", "type": "line", "stack": "b95", "data": band95, "symbol": "none",
             "lineStyle": hidden, "color": "#c6dbef", "areaStyle": {"color": "#c6dbef", "opacity": 0.6}},
            {"name": "80% 下限", "type": "line", "stack": "b80", "data": lo80, "symbol": "none",
             "lineStyle": hidden, "tooltip": {"show": False}},
            {"name": "80% 区间", "type": "line", "stack": "b80", "data": band80, "symbol": "none",
             "lineStyle": hidden, "color": "#6baed6", "areaStyle": {"color": "#6baed6", "opacity": 0.5}},
            {"name": "实际需求", "type": "line", "data": actual, "color": "#1f2328"},
            {"name": "模型预测", "type": "line", "data": mean, "color": "#0b5cad", "lineStyle": {"type": "dashed"}},
            {"name": "计划值", "type": "line", "data": final, "color": "#b3261e"},
            {"name": "人工调整", "type": "scatter", "data": marked, "symbolSize": 12, "color": "#8a5a00"},
        ],
    }


def day_chart(found: ItemSiteDays, unit: str) -> dict[str, Any]:
    """A day run: daily history, the day model's forecast, the planned figure and the 80 %/95 % bands."""
    days = [h.day for h in found.history] + [d.day for d in found.days]
    lead: list[float | None] = [None] * len(found.history)
    tail: list[float | None] = [None] * len(found.days)
    actual = [_num(h.sale) for h in found.history] + list(tail)

    def future(values: Sequence[float | None]) -> list[float | None]:
        return [*lead, *values]

    rows = found.days
    hidden = {"opacity": 0}
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"data": ["实际需求", "模型预测", "计划值", "80% 区间", "95% 区间"], "type": "scroll", "top": 0},
        "grid": {"left": 44, "right": 12, "top": 56, "bottom": 28},
        "xAxis": {"type": "category", "data": [d.strftime("%m-%d") for d in days]},
        "yAxis": {"type": "value", "name": f"{unit}/天"},
        "series": [
            {"name": "95% 下限", "type": "line", "stack": "b95", "data": future([_num(r.lo95) for r in rows]),
             "symbol": "none", "lineStyle": hidden, "tooltip": {"show": False}},
            {"name": "95% 区间", "type": "line", "stack": "b95", "data": future([_num(r.hi95 - r.lo95) for r in rows]),
             "symbol": "none", "lineStyle": hidden, "color": "#c6dbef",
             "areaStyle": {"color": "#c6dbef", "opacity": 0.6}},
            {"name": "80% 下限", "type": "line", "stack": "b80", "data": future([_num(r.lo80) for r in rows]),
             "symbol": "none", "lineStyle": hidden, "tooltip": {"show": False}},
            {"name": "80% 区间", "type": "line", "stack": "b80", "data": future([_num(r.hi80 - r.lo80) for r in rows]),
             "symbol": "none", "lineStyle": hidden, "color": "#6baed6",
             "areaStyle": {"color": "#6baed6", "opacity": 0.5}},
            {"name": "实际需求", "type": "line", "data": actual, "color": "#1f2328", "symbol": "none"},
            {"name": "模型预测", "type": "line", "data": future([_num(r.mean) for r in rows]), "color": "#0b5cad",
             "lineStyle": {"type": "dashed"}, "symbol": "none"},
            {"name": "计划值", "type": "line", "data": future([_num(r.final) for r in rows]), "color": "#b3261e",
             "symbol": "none"},
        ],
    }


def projection_chart(weeks: int, live: Sequence[float] | None, sandbox: Sequence[float], unit: str
                     ) -> dict[str, Any]:
    """Projected end-of-week stock: the live plan against the sandbox's."""
    series = [{"name": "试算方案", "type": "line", "data": list(sandbox), "color": "#b3261e"}]
    if live is not None:
        series.insert(0, {"name": "当前方案", "type": "line", "data": list(live), "color": "#0b5cad"})
    return {
        "animation": False, "tooltip": {"trigger": "axis"}, "legend": {"top": 0},
        "grid": {"left": 44, "right": 12, "top": 40, "bottom": 28},
        "xAxis": {"type": "category", "data": [f"第{n + 1}周" for n in range(weeks)]},
        "yAxis": {"type": "value", "name": f"周末库存（{unit}）"},
        "series": series,
    }
