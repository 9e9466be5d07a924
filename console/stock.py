"""库存: stock by site, item and lot; value by site; slow movers; a lot's trace; QC and freezes.

Reads are the queries ``stock_list``, ``stock_value`` and ``lot_trace`` (availability itself is
``stock_availability``'s, the figure the bot and the mini-program show); actions are the operations
``record_qc``, ``freeze_stock`` and ``unfreeze_stock``, each with its own permission check. Forms carry
a ``request_id`` made when the page is rendered: a double submit replays the first answer.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.forms import new_request_id, parse_id, path_id, request_key
from console.web import actor, call, can_anywhere, done, member_page, read_db, render
from exports.xlsx import XLSX_MIME, Column, Kind, Sheet, workbook
from models.actor import Permission
from models.errors import ValidationError
from models.operations.quality import (
    FreezeStock,
    RecordQc,
    UnfreezeStock,
    freeze_stock,
    record_qc,
    unfreeze_stock,
)
from models.queries.lot_trace import lot_trace
from models.queries.stock_availability import visible_stock_sites
from models.queries.stock_list import QC_LABELS, StockFilter, stock_page, stock_rows_for_export, total_value
from models.queries.stock_value import slow_movers, stock_value_by_site
from models.stock import FreezeDirection

MAX_TEXT = 200
#: Lots listed under a row of the stock list (a pair can hold hundreds; its own page lists them all).
LOTS_SHOWN = 5
DIRECTION_CHOICES = (("outbound", "禁止出库"), ("both", "禁止出入库"), ("inbound", "禁止入库"))


# --- strict form and query parsing ---------------------------------------------------------------

def _int(raw: str | None, field: str, label: str, low: int, high: int) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not low <= int(text) <= high:
        raise ValidationError(f"{label}须是 {low} 到 {high} 之间的整数", field=field)
    return int(text)


def _text(field: str, label: str, required: bool = False) -> str:
    value = request.form.get(field, "").strip()
    if required and not value:
        raise ValidationError(f"请填写{label}", field=field)
    if len(value) > MAX_TEXT:
        raise ValidationError(f"{label}最多 {MAX_TEXT} 个字", field=field)
    return value


def _stock_filter() -> StockFilter:
    args = request.args
    return StockFilter(
        site_id=parse_id(args.get("site_id"), "site_id", "地点"),
        item_id=parse_id(args.get("item_id"), "item_id", "商品"),
        item_text=args.get("q", "").strip()[:200], held_only=args.get("held") == "1",
        expiring_within_days=_int(args.get("expiring"), "expiring", "到期天数", 0, 3650))


def _query_args(**override: Any) -> dict[str, Any]:
    """The current filter's query arguments (for 更多 and the export), with ``override``."""
    keep = {k: v for k, v in request.args.items() if k in ("site_id", "item_id", "q", "held", "expiring") and v}
    keep.update({k: v for k, v in override.items() if v is not None})
    return keep


def _script_json(option: dict[str, Any]) -> str:
    """JSON safe inside <script type="application/json">: a site named "</script>" cannot end the block."""
    text = json.dumps(option, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- pages ---------------------------------------------------------------------------------------

@bp.get("/stock")
@member_page(Permission.VIEW_STOCK)
def stock() -> ResponseReturnValue:
    """The stock list: filter by site, item, held only, expiring within N days; lots expand under each row."""
    flt = _stock_filter()
    db, who = read_db(), actor()
    # Under each row its first lots; the row's own page (one site and item) lists them all.
    one_pair = flt.item_id is not None and flt.site_id is not None
    page = stock_page(db, who, flt, after=request.args.get("after"), lots_per_row=None if one_pair else LOTS_SHOWN)
    return render("console/stock/list.html", page=page, flt=flt, sites=visible_stock_sites(db, who),
                  page_value=total_value(page.rows), qc_labels=QC_LABELS,
                  more_url=url_for("console.stock", **_query_args(after=page.next_after)) if page.next_after else None,
                  export_url=url_for("console.stock_export", **_query_args()))


@bp.get("/stock/export.xlsx")
@member_page(Permission.VIEW_STOCK)
def stock_export() -> ResponseReturnValue:
    """The filtered stock list as .xlsx: one row per lot (the same query as the page)."""
    rows, cut = stock_rows_for_export(read_db(), actor(), _stock_filter())
    columns = (Column("地点"), Column("商品"), Column("单位"), Column("批次"), Column("来源"), Column("等级"),
               Column("收货日期", Kind.DATE), Column("到期日", Kind.DATE), Column("质检"), Column("冻结原因"),
               Column("在库", Kind.QTY), Column("预留", Kind.QTY), Column("可用", Kind.QTY), Column("金额", Kind.MONEY))
    data = [(r.stock.site_name, r.stock.item_name, r.stock.base_unit, line.lot.lot_code, line.origin_name or "",
             line.grade_name or "", line.received_on, line.lot.expires_on, line.qc_label, line.lot.frozen_reason or "",
             line.lot.on_hand, line.lot.reserved, line.lot.available, line.lot.value)
            for r in rows for line in r.lots]
    sheet = Sheet(name="库存", columns=columns, rows=data, title=(f"{actor().name} 导出 · 库存（按批次）",),
                  totals=("合计", *[""] * 12, total_value(rows)),
                  footer=("只导出了前 20000 行，请缩小筛选范围",) if cut else ())
    return Response(workbook([sheet]), mimetype=XLSX_MIME,
                    headers={"Content-Disposition": "attachment; filename=stock.xlsx"})


@bp.get("/stock/value")
@member_page(Permission.VIEW_STOCK)
def stock_value() -> ResponseReturnValue:
    """Stock value by site (chart and table) and slow movers (no outbound movement for N days)."""
    days = _int(request.args.get("days"), "days", "天数", 1, 730) or 30
    db, who = read_db(), actor()
    site_id = parse_id(request.args.get("site_id"), "site_id", "地点")
    value = stock_value_by_site(db, who)
    slow = slow_movers(db, who, days, site_id)
    chart = {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 16, "top": 24, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [s.site_name for s in value.sites]},
        "yAxis": {"type": "value", "name": "元"},
        "series": [{"type": "bar", "name": "库存金额", "data": [float(s.value) for s in value.sites],
                    "itemStyle": {"color": "#0b5cad"}}],
    }
    return render("console/stock/value.html", value=value, slow=slow, days=days, site_id=site_id,
                  sites=visible_stock_sites(db, who), chart_json=_script_json(chart))


@bp.get("/stock/lots/<int:lot_id>")
@member_page(Permission.VIEW_STOCK)
def lot(lot_id: int) -> ResponseReturnValue:
    """A lot's trace from farmer to shelf, with its QC and freeze actions."""
    who = actor()
    trace = lot_trace(read_db(), who, path_id(lot_id, "批次"), after=request.args.get("after"))
    return render("console/stock/lot.html", trace=trace, request_key=new_request_id,
                  can_qc=who.can(Permission.QC), can_freeze=can_anywhere(who, Permission.FREEZE),
                  directions=DIRECTION_CHOICES,
                  more_url=url_for("console.lot", lot_id=lot_id, after=trace.next_after) if trace.next_after else None)


# --- actions -------------------------------------------------------------------------------------

@bp.post("/stock/lots/<int:lot_id>/qc")
@member_page(Permission.VIEW_STOCK)
def lot_qc(lot_id: int) -> ResponseReturnValue:
    """Record a QC result: 合格 releases farmers' balances and lifts the QC freeze; 不合格 freezes the lot."""
    verdict = request.form.get("result", "")
    if verdict not in ("pass", "fail"):
        raise ValidationError("请选择质检结果：合格或不合格", field="result")
    note = _text("note", "质检说明", required=verdict == "fail")
    command = RecordQc(lot_id=path_id(lot_id, "批次"), passed=verdict == "pass", note=note)
    result = call(record_qc, command, key=request_key(required=True))
    label = "合格" if result.qc_status == "passed" else "不合格，批次已冻结"
    return done(f"批次 {result.lot_code} 质检已记录：{label}", url_for("console.lot", lot_id=lot_id))


@bp.post("/stock/lots/<int:lot_id>/freeze")
@member_page(Permission.VIEW_STOCK)
def lot_freeze(lot_id: int) -> ResponseReturnValue:
    """Freeze this lot at one site (or every site) with a reason."""
    item_id = parse_id(request.form.get("item_id"), "item_id", "商品")
    if item_id is None:
        raise ValidationError("缺少商品", field="item_id")
    direction = request.form.get("direction", "")
    if direction not in {d for d, _label in DIRECTION_CHOICES}:
        raise ValidationError("请选择冻结方向", field="direction")
    command = FreezeStock(item_id=item_id, direction=FreezeDirection(direction),
                          reason=_text("reason", "冻结原因", required=True),
                          site_id=parse_id(request.form.get("site_id"), "site_id", "地点"),
                          lot_id=path_id(lot_id, "批次"))
    call(freeze_stock, command, key=request_key(required=True))
    return done("已冻结", url_for("console.lot", lot_id=lot_id))


@bp.post("/stock/freezes/<int:freeze_id>/lift")
@member_page(Permission.VIEW_STOCK)
def stock_lift_freeze(freeze_id: int) -> ResponseReturnValue:
    """Lift a freeze with a reason (a QC freeze lifts only by a passing QC: the operation says so)."""
    reason = _text("reason", "解冻原因", required=True)
    call(unfreeze_stock, UnfreezeStock(freeze_id=path_id(freeze_id, "冻结记录"), reason=reason),
         key=request_key(required=True))
    return done("已解除冻结")

