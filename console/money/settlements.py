"""农户结算: farmers with deliveries to pay, one farmer's deliveries to tick and settle
(settlement.settle_farmer, keyed so a double submit pays once), and the settlement made."""

from __future__ import annotations

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.forms import new_request_id, parse_id, request_key
from console.web import actor, call, done, member_page, read_db, render
from models.actor import Permission
from models.errors import ValidationError
from models.operations.settlement import MAX_PICKED, SettleFarmer, settle_farmer
from models.queries.farmer_settlements import QC_LABELS, STAGE_LABELS, farmer_due, farmers_due, settlement_paper


@bp.get("/money/settlements")
@member_page(Permission.VIEW_FINANCE)
def money_settlements() -> ResponseReturnValue:
    """Farmers with money due now, 50 a page."""
    after = parse_id(request.args.get("after"), "after", "编号")
    return render("console/money/settlements.html", page=farmers_due(read_db(), actor().org_id, after))


@bp.get("/money/settlements/farmers/<int:party_id>")
@member_page(Permission.VIEW_FINANCE)
def money_farmer(party_id: int) -> ResponseReturnValue:
    """One farmer's deliveries to pay, each with what paying it now pays; tick and settle."""
    return render("console/money/farmer.html", due=farmer_due(read_db(), actor().org_id, party_id),
                  stages=STAGE_LABELS, qc=QC_LABELS, request_id=new_request_id(),
                  can_settle=actor().can(Permission.SETTLE))


@bp.post("/money/settlements/farmers/<int:party_id>")
@member_page(Permission.VIEW_FINANCE)
def money_settle(party_id: int) -> ResponseReturnValue:
    """Pay the ticked deliveries (one 付款单 and its voucher)."""
    key = request_key(required=True)
    picked = request.form.getlist("settlement_id")
    if not picked:
        raise ValidationError("请至少选择一笔交货", field="settlement_id")
    if len(picked) > MAX_PICKED:
        raise ValidationError(f"一次最多结算 {MAX_PICKED} 笔交货", field="settlement_id")
    ids = tuple(sorted({parse_id(v, "settlement_id", "交货", required=True) for v in picked}))
    result = call(settle_farmer, SettleFarmer(party_id, settlement_ids=ids), key=key)
    return done(f"已结算 {result.number}：¥{result.amount:,.2f}（凭证 {result.voucher_number}）",
                url_for("console.money_settlement", document_id=result.document_id))


@bp.get("/money/settlements/<int:document_id>")
@member_page(Permission.VIEW_FINANCE)
def money_settlement(document_id: int) -> ResponseReturnValue:
    """A settlement made: the farmer, the deliveries and stages paid, the amount."""
    return render("console/money/settlement.html", paper=settlement_paper(read_db(), actor().org_id, document_id),
                  stages=STAGE_LABELS)
