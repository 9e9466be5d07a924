"""单据: list, filter, open, export, print and reverse documents; write the ones a desk user makes.

Every read is a query (models.queries.document_list / document_detail / desk_pickers / print_documents)
and every change an operation called through ``call``; this module parses forms and renders.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import current_app, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from console.blueprint import bp
from console.forms import REQUEST_FIELD, new_request_id, parse_id, request_key
from console.web import actor, call, done, member_page, read_db, render
from exports.pdf import delivery_note_pdf, shipment_pdf, voucher_pdf
from exports.xlsx import XLSX_MIME, document_list_xlsx
from models.actor import Permission
from models.documents import DOC_KIND_LABELS, DocKind, DocStatus
from models.errors import NotFound, ValidationError
from models.operations.common import STATUS_LABELS
from models.operations.counting import CountStock, count_stock
from models.operations.orders import CreateOrder, OrderLineIn, create_order
from models.operations.reversal import ReverseDocument, reverse_document
from models.operations.shipping import ShipGoods, ship_goods
from models.operations.transfers import (
    RequestTransfer,
    TransferLineIn,
    TransferRef,
    cancel_transfer,
    dispatch_transfer,
    receive_transfer,
    request_transfer,
)
from models.queries.desk_pickers import desk_pickers, open_sales_orders
from models.queries.document_detail import document_detail, visible_document
from models.queries.document_list import DocumentFilter, document_export, document_list
from models.queries.margin_preview import DraftLine, DraftOrder, margin_preview
from models.queries.photos import read_document_photo
from models.queries.print_documents import org_name, printable_delivery_note, shipment_note, voucher_document

_ASCII_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")
#: Lines a desk form offers (blank ones are skipped).
FORM_LINES = 3
MAX_TEXT = 200
#: The kinds a desk user writes here, in menu order.
NEW_KINDS = {"purchase_order": "采购订单", "sales_order": "销售订单", "transfer": "调拨申请", "count": "盘点",
             "shipment": "出库"}


# --- strict form parsing: junk is a Chinese ValidationError, never a 500 ---------------------------

def _int(form: MultiDict[str, str], name: str, label: str, *, required: bool = True) -> int | None:
    return parse_id(form.get(name), name, label, required=required)


def _decimal(form: MultiDict[str, str], name: str, label: str, *, required: bool = True) -> Decimal | None:
    raw = (form.get(name) or "").strip().replace(",", "")
    if not raw:
        if required:
            raise ValidationError(f"请填写{label}", field=name)
        return None
    if raw.startswith("-") and _ASCII_DECIMAL.fullmatch(raw[1:]):
        raise ValidationError(f"{label}不能为负", field=name)
    if not _ASCII_DECIMAL.fullmatch(raw):  # no exponents, NaN, or digits of other scripts
        raise ValidationError(f"{label}必须是数字", field=name)
    value = Decimal(raw)
    if value > Decimal(100_000_000):
        raise ValidationError(f"{label}过大，请核对", field=name)
    if value != value.quantize(Decimal("0.000001")):
        raise ValidationError(f"{label}最多六位小数", field=name)
    return value


def _date(form: MultiDict[str, str], name: str, label: str) -> date | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else date.fromisoformat("bad")
    except ValueError:
        raise ValidationError(f"{label}格式应为 年-月-日", field=name) from None


def _text(form: MultiDict[str, str], name: str) -> str:
    return (form.get(name) or "").strip()[:MAX_TEXT]


def _unit(form: MultiDict[str, str], name: str) -> str | None:
    raw = (form.get(name) or "").strip()
    if len(raw) > 16:
        raise ValidationError("单位无效", field=name)
    return raw or None


# --- list ------------------------------------------------------------------------------------------

def _filter(args: MultiDict[str, str]) -> DocumentFilter:
    kind_raw, status_raw = (args.get("kind") or "").strip(), (args.get("status") or "").strip()
    try:
        kind = DocKind(kind_raw) if kind_raw else None
        status = DocStatus(status_raw) if status_raw else None
    except ValueError:
        raise ValidationError("单据类型或状态无效", field="kind") from None
    return DocumentFilter(kind=kind, status=status, site_id=_int(args, "site", "地点", required=False),
                          party_id=_int(args, "party", "往来单位", required=False),
                          date_from=_date(args, "from", "开始日期"), date_to=_date(args, "to", "结束日期"),
                          number=(args.get("q") or "").strip())


def _list_context() -> dict[str, Any]:
    pickers = desk_pickers(read_db(), actor())
    return {"kinds": DOC_KIND_LABELS, "statuses": STATUS_LABELS, "pickers": pickers,
            "parties": sorted([*pickers.customers, *pickers.suppliers], key=lambda c: c.label),
            "new_kinds": NEW_KINDS, "args": request.args}


@bp.get("/documents")
@member_page()
def documents() -> ResponseReturnValue:
    try:
        flt = _filter(request.args)
        after = _int(request.args, "after", "页码", required=False)
        page = document_list(read_db(), actor(), flt, after=after)
    except ValidationError as exc:
        return render("console/documents/list.html", status=422, error=exc.message, page=None, **_list_context())
    kept: dict[str, Any] = {k: v for k, v in request.args.items() if k != "after"}
    more = url_for("console.documents", **kept, after=page.next_after) if page.next_after is not None else None
    export = url_for("console.documents_export", **kept)
    return render("console/documents/list.html", page=page, more=more, export=export, error=None,
                  **_list_context())


@bp.get("/documents/export.xlsx")
@member_page()
def documents_export() -> ResponseReturnValue:
    rows = document_export(read_db(), actor(), _filter(request.args))
    return _file(document_list_xlsx(rows, org_name(read_db(), actor().org_id)), XLSX_MIME, "单据列表.xlsx",
                 inline=False)


def _file(data: bytes, mime: str, filename: str, *, inline: bool) -> Response:
    response = Response(data, content_type=mime)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- one document ----------------------------------------------------------------------------------

@bp.get("/documents/<int:document_id>")
@member_page()
def document(document_id: int) -> ResponseReturnValue:
    detail = document_detail(read_db(), actor(), document_id)
    return render("console/documents/detail.html", doc=detail, request_id=new_request_id(),
                  may_reverse=actor().can(Permission.REVERSE))


@bp.get("/documents/photos/<int:photo_id>")
@member_page()
def document_photo(photo_id: int) -> ResponseReturnValue:
    data = read_document_photo(read_db(), actor(), current_app.extensions["liuzhuan"]["media"], photo_id,
                               thumb=request.args.get("size") != "full")
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=86400",
                                                          "X-Content-Type-Options": "nosniff"})


@bp.post("/documents/<int:document_id>/reverse")
@member_page()
def document_reverse(document_id: int) -> ResponseReturnValue:
    key = request_key(required=True)
    result = call(reverse_document, ReverseDocument(document_id, _text(request.form, "reason")), key=key)
    return done(f"已冲销 {result.reversed_number}，冲销单 {result.number}",
                url_for("console.document", document_id=result.document_id))


#: A transfer's next steps from its page: the operation checks the permission at the site and the state.
TRANSFER_STEPS = {"dispatch": (dispatch_transfer, "已发货"), "receive": (receive_transfer, "已收货"),
                  "cancel": (cancel_transfer, "已取消")}


@bp.post("/documents/<int:document_id>/transfer/<step>")
@member_page()
def document_transfer_step(document_id: int, step: str) -> ResponseReturnValue:
    if step not in TRANSFER_STEPS:
        raise NotFound("没有这个调拨步骤", step=step)
    operation, said = TRANSFER_STEPS[step]
    # The state machine refuses a second dispatch/receive/cancel; the key makes a double click a replay.
    result = call(operation, TransferRef(document_id, _text(request.form, "reason")), key=request_key(required=True))
    return done(f"{result.number} {said}", url_for("console.document", document_id=document_id))


@bp.get("/documents/<int:document_id>/vouchers/<int:voucher_id>.pdf")
@member_page()
def document_voucher_pdf(document_id: int, voucher_id: int) -> ResponseReturnValue:
    who = actor()
    doc = visible_document(read_db(), who, document_id)
    who.require(Permission.VIEW_FINANCE)
    voucher = voucher_document(read_db(), who.org_id, voucher_id)
    if voucher.document_number != doc.number:  # a voucher of another document: not this page's to print
        raise NotFound("找不到该凭证", id=voucher_id)
    return _file(voucher_pdf(voucher), "application/pdf", f"记账凭证_{voucher.number}.pdf", inline=True)


@bp.get("/documents/<int:document_id>/shipment.pdf")
@member_page()
def document_shipment_pdf(document_id: int) -> ResponseReturnValue:
    note = shipment_note(read_db(), actor(), document_id)
    return _file(shipment_pdf(note), "application/pdf", f"送货单_{note.number}.pdf", inline=True)


@bp.get("/documents/<int:document_id>/delivery-note.pdf")
@member_page()
def document_delivery_note_pdf(document_id: int) -> ResponseReturnValue:
    note = printable_delivery_note(read_db(), actor(), document_id)
    return _file(delivery_note_pdf(note), "application/pdf", f"交货单_{note.number}.pdf", inline=True)


# --- new documents ---------------------------------------------------------------------------------

def _order_lines(form: MultiDict[str, str], *, priced: bool) -> list[tuple[int, Decimal, str | None, Decimal]]:
    lines = []
    for n in range(FORM_LINES):
        item = _int(form, f"item_{n}", f"第 {n + 1} 行商品", required=False)
        if item is None:
            continue
        qty = _decimal(form, f"qty_{n}", f"第 {n + 1} 行数量")
        price = _decimal(form, f"price_{n}", f"第 {n + 1} 行单价", required=priced) or Decimal(0)
        assert qty is not None
        lines.append((item, qty, _unit(form, f"unit_{n}"), price))
    if not lines:
        raise ValidationError("请至少填写一行商品", field="item_0")
    return lines


def _form_page(kind: str, status: int = 200, **context: Any) -> Response:
    who = actor()
    shows_orders = kind == "shipment"
    return render("console/documents/new.html", status=status, kind=kind, title=NEW_KINDS[kind],
                  pickers=desk_pickers(read_db(), who),
                  orders=open_sales_orders(read_db(), who) if shows_orders else [],
                  lines=range(FORM_LINES), form=request.form,
                  request_id=request.form.get(REQUEST_FIELD) or new_request_id(),
                  new_kinds=NEW_KINDS, **context)


@bp.get("/documents/new/<kind>")
@member_page()
def document_new(kind: str) -> ResponseReturnValue:
    if kind not in NEW_KINDS:
        raise NotFound("没有这种单据", kind=kind)
    return _form_page(kind, error=None, preview=None)


@bp.post("/documents/new/<kind>")
@member_page()
def document_create(kind: str) -> ResponseReturnValue:
    if kind not in NEW_KINDS:
        raise NotFound("没有这种单据", kind=kind)
    form = request.form
    try:
        if kind == "sales_order" and form.get("action") == "preview":
            return _form_page(kind, error=None, preview=_preview(form))
        key = request_key(required=True)
        number, document_id = _create(kind, form, key)
    except ValidationError as exc:
        return _form_page(kind, status=422, error=exc.message, preview=None)
    return done(f"已保存 {number}", url_for("console.document", document_id=document_id))


def _preview(form: MultiDict[str, str]) -> Any:
    site = _int(form, "site", "地点")
    party = _int(form, "party", "客户")
    assert site is not None and party is not None
    lines = tuple(DraftLine(item, qty, unit, price) for item, qty, unit, price in _order_lines(form, priced=True))
    return margin_preview(read_db(), actor(), DraftOrder(party, site, lines))  # the query checks the site


def _create(kind: str, form: MultiDict[str, str], key: str) -> tuple[str, int]:
    if kind in ("purchase_order", "sales_order"):
        site, party = _int(form, "site", "地点"), _int(form, "party", "往来单位")
        assert site is not None and party is not None
        lines = tuple(OrderLineIn(item, qty, unit, price)
                      for item, qty, unit, price in _order_lines(form, priced=True))
        order = call(create_order, CreateOrder(DocKind(kind), site, party, lines, note=_text(form, "note")), key=key)
        return order.number, order.document_id
    if kind == "transfer":
        source, dest = _int(form, "from_site", "调出地点"), _int(form, "to_site", "调入地点")
        assert source is not None and dest is not None
        moved = tuple(TransferLineIn(item, qty, unit) for item, qty, unit, _p in _order_lines(form, priced=False))
        transfer = call(request_transfer, RequestTransfer(source, dest, moved, urgent=form.get("urgent") == "1",
                                                          reason=_text(form, "note")), key=key)
        return transfer.number, transfer.document_id
    site, item = _int(form, "site", "地点"), _int(form, "item_0", "商品")
    assert site is not None and item is not None
    if kind == "count":
        counted = _decimal(form, "qty_0", "盘点数量")
        assert counted is not None
        result = call(count_stock, CountStock(site, item, counted, _unit(form, "unit_0"), note=_text(form, "note")),
                      key=key)
        return result.number, result.document_id
    qty = _decimal(form, "qty_0", "数量")
    assert qty is not None
    shipment = call(ship_goods, ShipGoods(
        site, item, qty, _unit(form, "unit_0"), party_id=_int(form, "party", "客户", required=False),
        unit_price=_decimal(form, "price_0", "单价", required=False),
        sales_order_id=_int(form, "order", "销售订单", required=False), note=_text(form, "note")), key=key)
    return shipment.number, shipment.document_id
