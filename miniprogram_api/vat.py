"""VAT basics (增值税): the summary of a period, invoice numbers on documents, and the rates of items
and parties. Reads need 查看财务; an invoice number 结算付款; a rate 修改记账规则 (it decides the
tax line of every voucher posted afterwards)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, BeforeValidator, Field

from miniprogram_api.apiutil import Id, dump, out_model, strict_decimal
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.base import utcnow
from models.operations.invoices import InvoiceNumber, SetInvoiceNumber, set_invoice_number
from models.operations.masterdata import SetDefaultVatRate, SetVatRate, VatRate, set_default_vat_rate, set_vat_rate
from models.queries.vat import VatSummary, vat_summary
from models.timeutil import period_of

api = APIBlueprint("vat", __name__, url_prefix="/api/v1/finance", abp_tags=[Tag(name="增值税")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

#: A VAT rate: 0 ≤ rate < 1, at most four decimals (0.13, 0.09, 0.03, 0).
VatRateValue = Annotated[Decimal, BeforeValidator(strict_decimal), Field(ge=0, lt=1, decimal_places=4)]


class PeriodQuery(BaseModel):
    # The same years as the books' periods (2000–2099): 190001 is a typing slip, not a month to sum.
    period: str | None = Field(None, pattern=r"^20\d{2}(0[1-9]|1[0-2])$", description="期间 YYYYMM；默认本月")

    def value(self) -> str:
        return self.period or period_of(utcnow())


@endpoint(api.get, "/vat-summary", permission=Permission.VIEW_FINANCE, response=out_model(VatSummary))
def summary(ctx: Ctx, query: PeriodQuery) -> dict:
    """增值税汇总: output tax (销项) and input tax (进项) by rate, tax payable (negative: 留抵), checked
    against 222102/222101, and the month's receipts and shipments with their invoice numbers."""
    return dump(vat_summary(ctx.session, ctx.actor, query.value()))


class DocumentPath(BaseModel):
    document_id: Id


class InvoiceNumberIn(BaseModel):
    invoice_number: str | None = Field(
        max_length=32, pattern="^[0-9A-Za-z-]*$", description="发票号码；空字符串或 null 表示清除")
    reason: str = Field("", max_length=200)


@endpoint(api.put, "/documents/<int:document_id>/invoice-number", permission=Permission.SETTLE,
          response=out_model(InvoiceNumber))
def invoice_number(ctx: Ctx, path: DocumentPath, body: InvoiceNumberIn) -> dict:
    """Record the invoice number of a posted receipt or shipment (audited)."""
    return dump(ctx.call(set_invoice_number, SetInvoiceNumber(path.document_id, body.invoice_number, body.reason)))


class VatRateIn(BaseModel):
    vat_rate: VatRateValue | None = Field(description="税率，如 0.13；null 表示不设（按下一级取）")
    reason: str = Field("", max_length=200)


class ItemPath(BaseModel):
    item_id: Id


class PartyPath(BaseModel):
    party_id: Id


@endpoint(api.put, "/vat-rate", permission=Permission.MAPPING, response=out_model(VatRate))
def default_vat_rate(ctx: Ctx, body: VatRateIn) -> dict:
    """Set the organisation's default VAT rate (when neither document, party nor item sets one); audited."""
    return dump(ctx.call(set_default_vat_rate, SetDefaultVatRate(body.vat_rate, reason=body.reason)))


@endpoint(api.put, "/items/<int:item_id>/vat-rate", permission=Permission.MAPPING, response=out_model(VatRate))
def item_vat_rate(ctx: Ctx, path: ItemPath, body: VatRateIn) -> dict:
    """Set an item's VAT rate (13 % goods, 9 % 农产品 …); audited."""
    return dump(ctx.call(set_vat_rate, SetVatRate(body.vat_rate, item_id=path.item_id, reason=body.reason)))


@endpoint(api.put, "/parties/<int:party_id>/vat-rate", permission=Permission.MAPPING, response=out_model(VatRate))
def party_vat_rate(ctx: Ctx, path: PartyPath, body: VatRateIn) -> dict:
    """Set a party's VAT rate, which overrides the item's (a 小规模纳税人 supplier: 0.03); audited."""
    return dump(ctx.call(set_vat_rate, SetVatRate(body.vat_rate, party_id=path.party_id, reason=body.reason)))
