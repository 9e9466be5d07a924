"""应收/应付: aging by party, a party's open items with money in or out and matching (核销), and its
statement of account (对账单) on screen, in Excel and as PDF."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from flask import request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from console.blueprint import bp
from console.forms import new_request_id, parse_id, request_key
from console.money import forms
from console.web import actor, call, done, member_page, read_db, render
from exports.pdf import PDF_MIME, statement_pdf
from exports.xlsx import XLSX_MIME, statement_xlsx
from models.actor import Permission
from models.errors import ValidationError
from models.operations.money import (
    VIA_LABELS,
    MatchOpenItems,
    MatchTo,
    RecordMoney,
    match_open_items,
    pay_money,
    receive_money,
)
from models.queries.print_documents import org_name
from models.queries.receivables import BUCKET_LABELS, BUCKETS, Statement, aging, party_open_items, statement
from models.subledger import SIDE_LABELS, Side

#: Parties shown per page of the aging report (largest first; the totals are the whole report's).
AGING_PAGE = 50
#: A payment is set against at most this many picked items (the operation bounds it too).
MAX_PICKS = 200


@bp.get("/money")
@member_page(Permission.VIEW_FINANCE)
def money() -> ResponseReturnValue:
    """The section's landing page: receivables (or payables) aging by party."""
    side = forms.side(request.args.get("side"))
    as_of = forms.day(request.args.get("as_of"), "as_of", forms.today())
    basis = forms.choice(request.args.get("basis"), ("due", "document"), "basis")
    start = int(parse_id(request.args.get("start"), "start", "编号") or 0)
    report = aging(read_db(), actor().org_id, side, as_of, basis)
    rows = report.rows[start:start + AGING_PAGE]
    more = start + AGING_PAGE if len(report.rows) > start + AGING_PAGE else None
    return render("console/money/aging.html", report=report, rows=rows, more=more, side=side,
                  side_label=SIDE_LABELS[side], buckets=BUCKETS, labels=BUCKET_LABELS)


@bp.get("/money/parties/<int:party_id>")
@member_page(Permission.VIEW_FINANCE)
def money_party(party_id: int) -> ResponseReturnValue:
    """A party's open items on one side, the money form and the matching button."""
    side = forms.side(request.args.get("side"))
    found = party_open_items(read_db(), actor().org_id, party_id, side)
    today = forms.today()
    return render("console/money/party.html", party=found, side=side, side_label=SIDE_LABELS[side],
                  vias=VIA_LABELS, request_id=new_request_id(),
                  date_from=today.replace(day=1), date_to=today)


def _statement_args(party_id: int) -> tuple[Side, Statement]:
    side = forms.side(request.args.get("side"))
    today = forms.today()
    date_from = forms.day(request.args.get("date_from"), "date_from", today.replace(day=1))
    date_to = forms.day(request.args.get("date_to"), "date_to", today)
    if (date_to - date_from) > timedelta(days=366 * 3):
        raise ValidationError("对账区间最长三年", field="date_to")
    return side, statement(read_db(), actor().org_id, party_id, side, date_from, date_to)


@bp.get("/money/parties/<int:party_id>/statement")
@member_page(Permission.VIEW_FINANCE)
def money_statement(party_id: int) -> ResponseReturnValue:
    """对账单 of a party for a date range (default: this month)."""
    side, report = _statement_args(party_id)
    return render("console/money/statement.html", report=report, side=side, side_label=SIDE_LABELS[side],
                  query=request.query_string.decode())


def download(data: bytes, mime: str, filename: str, *, inline: bool = False) -> Response:
    """A file from the exports library, with its Chinese name (RFC 5987) and never cached."""
    response = Response(data, content_type=mime)
    kind = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{kind}; filename*=UTF-8''{quote(filename, safe='')}"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/money/parties/<int:party_id>/statement.xlsx")
@member_page(Permission.VIEW_FINANCE)
def money_statement_xlsx(party_id: int) -> ResponseReturnValue:
    _side, report = _statement_args(party_id)
    return download(statement_xlsx(report, org_name(read_db(), actor().org_id)), XLSX_MIME,
                    f"对账单_{report.party_name}_{report.date_from}_{report.date_to}.xlsx")


@bp.get("/money/parties/<int:party_id>/statement.pdf")
@member_page(Permission.VIEW_FINANCE)
def money_statement_pdf(party_id: int) -> ResponseReturnValue:
    _side, report = _statement_args(party_id)
    return download(statement_pdf(report, org_name(read_db(), actor().org_id)), PDF_MIME,
                    f"对账单_{report.party_name}_{report.date_from}_{report.date_to}.pdf",
                    inline=True)


def _picks() -> tuple[MatchTo, ...] | None:
    """The items the finance officer set amounts against (``match-<line id>`` fields); None when
    every field is empty (the operation then matches oldest due first)."""
    picks = []
    for name, value in request.form.items():
        if not name.startswith("match-") or not value.strip():
            continue
        line_id = parse_id(name.removeprefix("match-"), "matches", "单据", required=True)
        picks.append(MatchTo(line_id, forms.amount(value, "matches", "核销金额")))
    if len(picks) > MAX_PICKS:
        raise ValidationError(f"一次最多核销 {MAX_PICKS} 笔", field="matches")
    if request.form.get("mode") == "advance":
        return ()
    return tuple(picks) or None


@bp.post("/money/parties/<int:party_id>/money")
@member_page(Permission.VIEW_FINANCE)
def money_record(party_id: int) -> ResponseReturnValue:
    """收款 (a customer) or 付款 (a supplier or farmer), set against the picked items or oldest first."""
    side = forms.side(request.form.get("side"))
    key = request_key(required=True)
    via = forms.choice(request.form.get("via"), tuple(VIA_LABELS), "via")
    cmd = RecordMoney(party_id=party_id, amount=forms.amount(request.form.get("amount")), via=via,
                      matches=_picks(), note=(request.form.get("note") or "").strip()[:200])
    result = call(receive_money if side == Side.RECEIVABLE else pay_money, cmd, key=key)
    verb = "收款" if side == Side.RECEIVABLE else "付款"
    left = f"，未核销 ¥{result.unapplied:,.2f}" if result.unapplied else ""
    return done(f"已登记{verb} {result.number}：¥{result.amount:,.2f}，核销 {len(result.matched)} 笔{left}",
                url_for("console.money_party", party_id=party_id, side=side.value))


@bp.post("/money/parties/<int:party_id>/match")
@member_page(Permission.VIEW_FINANCE)
def money_match(party_id: int) -> ResponseReturnValue:
    """核销: set the party's unapplied credits against its open charges, oldest due first."""
    side = forms.side(request.form.get("side"))
    result = call(match_open_items, MatchOpenItems(party_id, side), key=request_key(required=True))
    return done(f"已核销 {len(result.matched)} 笔；仍未收/付 ¥{result.open_charges:,.2f}",
                url_for("console.money_party", party_id=party_id, side=side.value))
