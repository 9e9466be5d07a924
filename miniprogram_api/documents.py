"""Documents (单据): the filtered list, one document with everything behind it, orders and reversal.

The same queries and operations as the console's 单据 section (models.queries.document_list /
document_detail, models.operations.orders / reversal), so a screen and a system see one thing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from exports.xlsx import XLSX_MIME, document_list_xlsx
from miniprogram_api.apiutil import BusinessTime, Id, IsoDate, Note, Price, Quantity, UnitName, dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.exports import XLSX, content_disposition
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.actor import Permission
from models.documents import DocKind, DocStatus
from models.operations.orders import CreateOrder, Order, OrderLineIn, create_order
from models.operations.reversal import Reversal, ReverseDocument, reverse_document
from models.queries.document_detail import DocumentDetail, document_detail
from models.queries.document_list import DocumentFilter, DocumentPage, document_export, document_list
from models.queries.print_documents import org_name

api = APIBlueprint("documents", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="单据")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

_SEEN = Anyone("查看库存（本人有权限的地点）或查看财务者；由 document_list / document_detail 按地点过滤")


class ListQuery(BaseModel):
    kind: DocKind | None = Field(None, description="单据类型，如 receipt（入库单）、transfer（调拨单）")
    status: DocStatus | None = Field(None, description="状态，如 posted（已过账）、requested（待审批）")
    site_id: Id | None = Field(None, description="地点（调出或调入）")
    party_id: Id | None = None
    date_from: IsoDate | None = Field(None, description="业务日期从（含，北京时间）")
    date_to: IsoDate | None = Field(None, description="业务日期到（含，北京时间）")
    number: str = Field("", max_length=48, description="单号的一部分")
    after: Id | None = Field(None, description="上一页的 next_after：只列 id 小于它的单据")


class DocPath(BaseModel):
    document_id: Id


@endpoint(api.get, "/documents", permission=_SEEN, response=out_model(DocumentPage))
def list_documents(ctx: Ctx, query: ListQuery) -> dict:
    """The documents the member may see, newest first, 50 a page (``next_after`` pages on)."""
    return dump(document_list(ctx.session, ctx.actor, _filter(query), after=query.after))


def _filter(query: ListQuery) -> DocumentFilter:
    return DocumentFilter(kind=query.kind, status=query.status, site_id=query.site_id, party_id=query.party_id,
                          date_from=query.date_from, date_to=query.date_to, number=query.number)


@endpoint(api.get, "/documents.xlsx", permission=_SEEN, response=XLSX)
def export_documents(ctx: Ctx, query: ListQuery) -> Response:
    """The filtered list as .xlsx (every matching document, at most 20,000: narrow the filter for more)."""
    rows = document_export(ctx.session, ctx.actor, _filter(query))
    response = Response(document_list_xlsx(rows, org_name(ctx.session, ctx.actor.org_id)), content_type=XLSX_MIME)
    response.headers["Content-Disposition"] = content_disposition("单据列表.xlsx", "documents.xlsx")
    response.headers["Cache-Control"] = "no-store"
    return response


@endpoint(api.get, "/documents/<int:document_id>", permission=_SEEN, response=out_model(DocumentDetail))
def get_document(ctx: Ctx, path: DocPath) -> dict:
    """One document: lines, stock moves, vouchers (with 查看财务), photos, approval steps and trail."""
    return dump(document_detail(ctx.session, ctx.actor, path.document_id))


class OrderLine(BaseModel):
    item_id: Id
    quantity: Quantity
    unit: UnitName | None = None
    unit_price: Price = Field(description="每基本单位的价格（不含税）")


class OrderIn(BaseModel):
    kind: Literal["purchase_order", "sales_order"]
    site_id: Id
    party_id: Id
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=50)]
    note: Note = ""
    business_time: BusinessTime | None = None

    def command(self) -> CreateOrder:
        return CreateOrder(DocKind(self.kind), self.site_id, self.party_id,
                           tuple(OrderLineIn(ln.item_id, ln.quantity, ln.unit, ln.unit_price) for ln in self.lines),
                           business_time=self.business_time, note=self.note)


@endpoint(api.post, "/orders", permission=Anyone("采购下单或销售下单：由 create_order 按订单类型与地点检查"),
          response=out_model(Order))
def post_order(ctx: Ctx, body: OrderIn) -> dict:
    """Confirm a purchase or sales order (a sales order reserves stock; approval when the rules ask)."""
    return dump(ctx.call(create_order, body.command()))


class ReverseIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    business_time: BusinessTime | None = None


@endpoint(api.post, "/documents/<int:document_id>/reverse", permission=Permission.REVERSE,
          response=out_model(Reversal))
def post_reverse(ctx: Ctx, path: DocPath, body: ReverseIn) -> dict:
    """Reverse a posted receipt, shipment, count or settlement: a reversing document and red-ink voucher."""
    return dump(ctx.call(reverse_document, ReverseDocument(path.document_id, body.reason, body.business_time)))
