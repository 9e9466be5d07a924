"""The finance desk's reads and writes beside the console's 资金 pages: farmers to pay and farmer
settlement (select deliveries, settle), the voucher list and one voucher, and mapping rules (list,
one rule, the preview of a change, the change). Reads need 查看财务; settling 结算付款; changing a
rule 修改记账规则 — each checked again by the operation."""

from __future__ import annotations

from datetime import date

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import Id, IsoDate, Note, dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.base import utcnow
from models.errors import ValidationError
from models.operations.mapping import ChangeMappingRule, MappingChange, RuleLine, change_mapping_rule
from models.operations.settlement import MAX_PICKED, SettleFarmer, SettlementResult, settle_farmer
from models.queries.farmer_settlements import (
    FarmerDueDetail,
    FarmersDue,
    SettlementPaper,
    farmer_due,
    farmers_due,
    settlement_paper,
)
from models.queries.mapping_rules import (
    MappingPreview,
    RuleDetail,
    RuleView,
    default_repost_from,
    mapping_rule,
    mapping_rules,
    preview_mapping_change,
)
from models.queries.print_documents import PrintedVoucher, voucher_document
from models.queries.voucher_pages import VoucherPage, voucher_page
from models.timeutil import local_date

api = APIBlueprint("finance_desk", __name__, url_prefix="/api/v1/finance", abp_tags=[Tag(name="结算、凭证与记账规则")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


# -- farmer settlement ----------------------------------------------------------------------------

class AfterQuery(BaseModel):
    after: Id | None = Field(None, description="上一页最后一个农户编号（next_after）")


@endpoint(api.get, "/farmers-due", permission=Permission.VIEW_FINANCE, response=out_model(FarmersDue))
def list_farmers_due(ctx: Ctx, query: AfterQuery) -> dict:
    """Farmers with deliveries to pay now (prepayments due, balances after QC), 50 a page."""
    return dump(farmers_due(ctx.session, ctx.actor.org_id, query.after))


class PartyPath(BaseModel):
    party_id: Id


@endpoint(api.get, "/farmers-due/<int:party_id>", permission=Permission.VIEW_FINANCE,
          response=out_model(FarmerDueDetail))
def farmer_deliveries_due(ctx: Ctx, path: PartyPath) -> dict:
    """One farmer's deliveries to pay now, each with the stage and amount settling it would pay."""
    return dump(farmer_due(ctx.session, ctx.actor.org_id, path.party_id))


class SettleIn(BaseModel):
    party_id: Id
    settlement_ids: list[Id] | None = Field(
        None, min_length=1, max_length=MAX_PICKED,
        description="只结算这些交货（farmers-due 的 settlement_id）；不填：结算该农户全部应付")
    note: Note = ""


@endpoint(api.post, "/settlements", permission=Permission.SETTLE, response=out_model(SettlementResult), status=201)
def settle(ctx: Ctx, body: SettleIn) -> dict:
    """农户结算: pay the chosen deliveries (or all due) in one 付款单 with its voucher. A delivery
    already paid makes the whole request refused (nothing is paid twice)."""
    ids = tuple(sorted(set(body.settlement_ids))) if body.settlement_ids is not None else None
    return dump(ctx.call(settle_farmer, SettleFarmer(body.party_id, note=body.note, settlement_ids=ids)))


class DocumentPath(BaseModel):
    document_id: Id


@endpoint(api.get, "/settlements/<int:document_id>", permission=Permission.VIEW_FINANCE,
          response=out_model(SettlementPaper))
def settlement(ctx: Ctx, path: DocumentPath) -> dict:
    """A settlement made: the farmer, the deliveries and stages paid, the amount."""
    return dump(settlement_paper(ctx.session, ctx.actor.org_id, path.document_id))


# -- vouchers -------------------------------------------------------------------------------------

class VoucherPageQuery(BaseModel):
    date_from: IsoDate | None = Field(None, description="凭证日期从（含）；默认本月 1 日")
    date_to: IsoDate | None = Field(None, description="凭证日期到（含）；默认今天")
    before: Id | None = Field(None, description="上一页的 next_before（按凭证编号倒序翻页）")


@endpoint(api.get, "/vouchers", permission=Permission.VIEW_FINANCE, response=out_model(VoucherPage))
def vouchers(ctx: Ctx, query: VoucherPageQuery) -> dict:
    """The vouchers of a date range, newest first, 50 a page, each with its amount and document."""
    today = local_date(utcnow())
    return dump(voucher_page(ctx.session, ctx.actor.org_id, query.date_from or today.replace(day=1),
                             query.date_to or today, query.before))


class VoucherPath(BaseModel):
    voucher_id: Id


@endpoint(api.get, "/vouchers/<int:voucher_id>", permission=Permission.VIEW_FINANCE,
          response=out_model(PrintedVoucher))
def voucher(ctx: Ctx, path: VoucherPath) -> dict:
    """One voucher with its lines, account and party names (what /print/vouchers/{id}.pdf prints)."""
    return dump(voucher_document(ctx.session, ctx.actor.org_id, path.voucher_id))


# -- mapping rules --------------------------------------------------------------------------------

class RulesOut(BaseModel):
    rules: list[out_model(RuleView)]  # type: ignore[valid-type]


@endpoint(api.get, "/mapping-rules", permission=Permission.VIEW_FINANCE, response=RulesOut)
def rules(ctx: Ctx) -> dict:
    """The mapping rules in force, by event, in the order posting tries them."""
    return {"rules": [dump(r) for r in mapping_rules(ctx.session, ctx.actor.org_id)]}


class RulePath(BaseModel):
    rule_id: Id


@endpoint(api.get, "/mapping-rules/<int:rule_id>", permission=Permission.VIEW_FINANCE,
          response=out_model(RuleDetail))
def rule(ctx: Ctx, path: RulePath) -> dict:
    """One rule with its versions, the figures its event supplies and the accounts to choose from."""
    return dump(mapping_rule(ctx.session, ctx.actor.org_id, path.rule_id))


class RuleLineIn(BaseModel):
    account: str = Field(min_length=1, max_length=16, description="科目编码")
    side: str = Field(pattern="^(debit|credit)$", description="debit（借）或 credit（贷）")
    amount: str = Field(min_length=1, max_length=16, description="金额取自事件的哪个数字（goods、tax、total …）")
    memo: str = Field("", max_length=64)


class RuleChangeIn(BaseModel):
    lines: list[RuleLineIn] = Field(min_length=1, max_length=20)
    repost_from: IsoDate | None = Field(None, description="重记这天（含）以后的凭证；默认本月 1 日")
    reason: Note = ""

    def checked(self) -> tuple[tuple[RuleLine, ...], date]:
        since = self.repost_from or default_repost_from(utcnow())
        if since > local_date(utcnow()):
            raise ValidationError("重记起始日不能晚于今天", field="repost_from")
        return tuple(RuleLine(ln.account, ln.side, ln.amount, ln.memo) for ln in self.lines), since


@endpoint(api.post, "/mapping-rules/<int:rule_id>/preview", permission=Permission.VIEW_FINANCE,
          response=out_model(MappingPreview), write=False)
def preview(ctx: Ctx, path: RulePath, body: RuleChangeIn) -> dict:
    """What changing the rule's lines would do, without saving: the vouchers that would be reversed
    and re-posted, each with its lines now and after (and the reason it would be refused, if any)."""
    lines, since = body.checked()
    return dump(preview_mapping_change(ctx.session, ctx.actor.org_id, path.rule_id, lines, since))


@endpoint(api.put, "/mapping-rules/<int:rule_id>", permission=Permission.MAPPING, response=out_model(MappingChange))
def change(ctx: Ctx, path: RulePath, body: RuleChangeIn) -> dict:
    """Change a rule's lines: a new version (audited), the affected vouchers reversed and re-posted."""
    lines, since = body.checked()
    return dump(ctx.call(change_mapping_rule, ChangeMappingRule(path.rule_id, lines, repost_from=since,
                                                                reason=body.reason)))
