"""Receivables and payables: money received and paid (收款单 / 付款单), matching (核销), credit
terms, aging as of any day and statements of account (对账单). Reads need 查看财务; writes 结算付款."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, BeforeValidator, Field

from miniprogram_api.apiutil import BusinessTime, Id, IsoDate, Note, dump, out_model, strict_decimal
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.base import utcnow
from models.operations.money import (
    CreditTerms,
    MatchOpenItems,
    MatchResult,
    MatchTo,
    MoneyResult,
    RecordMoney,
    SetCreditTerms,
    match_open_items,
    pay_money,
    receive_money,
    set_credit_terms,
)
from models.queries.receivables import (
    BUCKET_LABELS,
    BUCKETS,
    Aging,
    PartyOpenItems,
    Statement,
    aging,
    party_open_items,
    statement,
)
from models.subledger import Side
from models.timeutil import local_date

api = APIBlueprint("finance", __name__, url_prefix="/api/v1/finance", abp_tags=[Tag(name="应收应付")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

#: Money as people enter it: positive, to the fen, at most a trillion yuan.
Amount = Annotated[Decimal, BeforeValidator(strict_decimal), Field(gt=0, le=Decimal("1e12"), decimal_places=2)]
SideName = Annotated[Side, Field(description="receivable（应收）或 payable（应付）")]


class MatchIn(BaseModel):
    line_id: Id = Field(description="未核销单据的凭证行编号（见 open-items）")
    amount: Amount


class MoneyIn(BaseModel):
    party_id: Id
    amount: Amount
    via: str = Field("bank", pattern="^(bank|cash)$", description="bank（银行）或 cash（现金）")
    matches: list[MatchIn] | None = Field(
        None, max_length=200, description="不填：按到期日从早到晚自动核销；填空列表：全部作为预收/预付")
    business_time: BusinessTime | None = None
    note: Note = ""

    def command(self) -> RecordMoney:
        picks = tuple(MatchTo(m.line_id, m.amount) for m in self.matches) if self.matches is not None else None
        return RecordMoney(party_id=self.party_id, amount=self.amount, via=self.via, matches=picks,
                           business_time=self.business_time, note=self.note)


@endpoint(api.post, "/money-received", permission=Permission.SETTLE, response=out_model(MoneyResult))
def money_received(ctx: Ctx, body: MoneyIn) -> dict:
    """收款单: money from a customer, set against its receivables (oldest due first unless given)."""
    return dump(ctx.call(receive_money, body.command()))


@endpoint(api.post, "/money-paid", permission=Permission.SETTLE, response=out_model(MoneyResult))
def money_paid(ctx: Ctx, body: MoneyIn) -> dict:
    """付款单: money to a supplier or farmer, set against its payables (oldest due first unless given)."""
    return dump(ctx.call(pay_money, body.command()))


class PartyPath(BaseModel):
    party_id: Id


class SideQuery(BaseModel):
    side: SideName = Side.RECEIVABLE


class MatchSideIn(BaseModel):
    side: SideName = Side.RECEIVABLE


@endpoint(api.post, "/parties/<int:party_id>/match", permission=Permission.SETTLE, response=out_model(MatchResult))
def match(ctx: Ctx, path: PartyPath, body: MatchSideIn) -> dict:
    """核销: set the party's unapplied credits against its open items, oldest due first."""
    return dump(ctx.call(match_open_items, MatchOpenItems(path.party_id, body.side)))


class CreditTermsIn(BaseModel):
    credit_days: int = Field(ge=0, le=3650, strict=True, description="账期（天）")
    credit_limit: Amount | None = Field(None, description="信用额度（元）；不填为不限")


@endpoint(api.put, "/parties/<int:party_id>/credit-terms", permission=Permission.SETTLE,
          response=out_model(CreditTerms))
def credit_terms(ctx: Ctx, path: PartyPath, body: CreditTermsIn) -> dict:
    """Set a party's credit terms (days until an item falls due; a customer's credit limit)."""
    return dump(ctx.call(set_credit_terms, SetCreditTerms(path.party_id, body.credit_days, body.credit_limit)))


@endpoint(api.get, "/parties/<int:party_id>/open-items", permission=Permission.VIEW_FINANCE,
          response=out_model(PartyOpenItems))
def open_items(ctx: Ctx, path: PartyPath, query: SideQuery) -> dict:
    """A party's open items on one side, oldest due first (what a payment can be set against)."""
    return dump(party_open_items(ctx.session, ctx.actor.org_id, path.party_id, query.side))


class AgingQuery(BaseModel):
    side: SideName = Side.RECEIVABLE
    as_of: IsoDate | None = Field(None, description="截至哪一天（含）；默认今天")
    basis: str = Field("due", pattern="^(due|document)$", description="due：按到期日；document：按单据日期")


class AgingRowOut(BaseModel):
    party_id: int | None
    party_name: str
    buckets: dict[str, str]
    overdue: str
    total: str


class AgingOut(BaseModel):
    side: str
    as_of: date
    basis: str
    columns: dict[str, str] = Field(description="账龄列的键与中文列名，按报表顺序")
    rows: list[AgingRowOut]
    totals: dict[str, str]
    total: str
    control_balance: str = Field(description="同日控制科目余额；与合计相等时 balanced 为 true")
    balanced: bool


def aging_json(report: Aging) -> dict[str, Any]:
    """The aging report as the API (and the console) render it."""
    return {
        "side": report.side, "as_of": report.as_of.isoformat(), "basis": report.basis,
        "columns": {k: BUCKET_LABELS[k] for k in BUCKETS},
        "rows": [{"party_id": r.party_id, "party_name": r.party_name,
                  "buckets": {k: str(v) for k, v in r.buckets.items()}, "overdue": str(r.overdue),
                  "total": str(r.total)} for r in report.rows],
        "totals": {k: str(v) for k, v in report.totals.items()}, "total": str(report.total),
        "control_balance": str(report.control_balance), "balanced": report.balanced,
    }


@endpoint(api.get, "/aging", permission=Permission.VIEW_FINANCE, response=AgingOut)
def aging_report(ctx: Ctx, query: AgingQuery) -> dict:
    """Receivables or payables by party and days overdue as of a day; the total is checked against
    the control accounts' balance that day."""
    day = query.as_of or local_date(utcnow())
    return aging_json(aging(ctx.session, ctx.actor.org_id, query.side, day, query.basis))


class StatementQuery(BaseModel):
    side: SideName = Side.RECEIVABLE
    date_from: IsoDate
    date_to: IsoDate


@endpoint(api.get, "/parties/<int:party_id>/statement", permission=Permission.VIEW_FINANCE,
          response=out_model(Statement))
def party_statement(ctx: Ctx, path: PartyPath, query: StatementQuery) -> dict:
    """对账单: the party's movements between two days (both included), opening and closing balance."""
    return dump(statement(ctx.session, ctx.actor.org_id, path.party_id, query.side, query.date_from, query.date_to))
