"""The books: 科目余额表 / 资产负债表 / 利润表 for a period (each says whether it balances, with its
Excel and PDF), 结账 / 反结账, and the vouchers (list, one voucher, its PDF)."""

from __future__ import annotations

from datetime import timedelta

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.forms import new_request_id, parse_id, request_key
from console.money import forms
from console.money.receivables import download
from console.web import actor, call, done, member_page, read_db, render
from exports.books_xlsx import balance_sheet_xlsx, income_statement_xlsx, trial_balance_xlsx
from exports.pdf import PDF_MIME, voucher_pdf
from exports.report_pdf import balance_sheet_pdf, income_statement_pdf, trial_balance_pdf
from exports.xlsx import XLSX_MIME
from models.actor import Permission
from models.errors import NotFound
from models.operations.closing import ClosePeriod, ReopenPeriod, close_period, reopen_period
from models.periods import checked_period, period_label
from models.queries.print_documents import org_name, voucher_document
from models.queries.statements import balance_sheet, income_statement, periods, trial_balance
from models.queries.voucher_pages import STATUS_LABELS, voucher_page

REPORTS = {"trial": "科目余额表", "balance": "资产负债表", "income": "利润表"}


def _period() -> str:
    text = request.args.get("period") or forms.this_period()
    return checked_period(text)


@bp.get("/money/reports")
@member_page(Permission.VIEW_FINANCE)
def money_reports() -> ResponseReturnValue:
    """One of the three reports for a period (default: the trial balance of this month)."""
    kind = forms.choice(request.args.get("report"), tuple(REPORTS), "report")
    period = _period()
    org_id = actor().org_id
    report = {"trial": trial_balance, "balance": balance_sheet, "income": income_statement}[kind](
        read_db(), org_id, period)
    return render("console/money/reports.html", kind=kind, reports=REPORTS, period=period,
                  period_label=period_label(period), report=report)


@bp.get("/money/reports/<kind>.<fmt>")
@member_page(Permission.VIEW_FINANCE)
def money_report_file(kind: str, fmt: str) -> ResponseReturnValue:
    """A report as .xlsx or .pdf (the exports library's files)."""
    if kind not in REPORTS or fmt not in ("xlsx", "pdf"):
        raise NotFound("没有这种报表", entity="report", id=kind)
    period = _period()
    session, org_id = read_db(), actor().org_id
    name = org_name(session, org_id)
    filename = f"{REPORTS[kind]}_{period}.{fmt}"
    if kind == "trial":
        tb = trial_balance(session, org_id, period)
        data = trial_balance_xlsx(tb, name) if fmt == "xlsx" else trial_balance_pdf(tb, name)
    elif kind == "balance":
        bs = balance_sheet(session, org_id, period)
        data = balance_sheet_xlsx(bs, name) if fmt == "xlsx" else balance_sheet_pdf(bs, name)
    else:
        inc = income_statement(session, org_id, period)
        data = income_statement_xlsx(inc, name) if fmt == "xlsx" else income_statement_pdf(inc, name)
    return download(data, XLSX_MIME if fmt == "xlsx" else PDF_MIME, filename, inline=fmt == "pdf")


@bp.get("/money/periods")
@member_page(Permission.VIEW_FINANCE)
def money_periods() -> ResponseReturnValue:
    """The periods with their status, and close / reopen."""
    return render("console/money/periods.html", periods=periods(read_db(), actor().org_id),
                  current=forms.this_period(), request_id=new_request_id(),
                  can_close=actor().can(Permission.CLOSE_PERIOD), can_reopen=actor().can(Permission.REOPEN_PERIOD))


@bp.post("/money/periods/close")
@member_page(Permission.VIEW_FINANCE)
def money_close() -> ResponseReturnValue:
    """结账 (the operation runs the checks and refuses with the list of what fails)."""
    period = checked_period(request.form.get("period", ""))
    state = call(close_period, ClosePeriod(period), key=request_key(required=True))
    return done(f"{period_label(state.period)}已结账：凭证 {state.voucher_count} 张", url_for("console.money_periods"))


@bp.post("/money/periods/reopen")
@member_page(Permission.VIEW_FINANCE)
def money_reopen() -> ResponseReturnValue:
    """反结账 with a reason (director; the operation checks it and the order)."""
    period = checked_period(request.form.get("period", ""))
    reason = (request.form.get("reason") or "").strip()
    state = call(reopen_period, ReopenPeriod(period, reason), key=request_key(required=True))
    return done(f"{period_label(state.period)}已反结账", url_for("console.money_periods"))


@bp.get("/money/vouchers")
@member_page(Permission.VIEW_FINANCE)
def money_vouchers() -> ResponseReturnValue:
    """Vouchers of a date range (default: this month), newest first, 50 a page."""
    today = forms.today()
    date_from = forms.day(request.args.get("date_from"), "date_from", today.replace(day=1))
    date_to = forms.day(request.args.get("date_to"), "date_to", today)
    before = parse_id(request.args.get("before"), "before", "编号")
    page = voucher_page(read_db(), actor().org_id, date_from, date_to, before)
    return render("console/money/vouchers.html", page=page, statuses=STATUS_LABELS,
                  last_month=(today.replace(day=1) - timedelta(days=1)).replace(day=1))


@bp.get("/money/vouchers/<int:voucher_id>")
@member_page(Permission.VIEW_FINANCE)
def money_voucher(voucher_id: int) -> ResponseReturnValue:
    """One voucher with its lines, as it prints."""
    return render("console/money/voucher.html", voucher=voucher_document(read_db(), actor().org_id, voucher_id),
                  statuses=STATUS_LABELS)


@bp.get("/money/vouchers/<int:voucher_id>.pdf")
@member_page(Permission.VIEW_FINANCE)
def money_voucher_pdf(voucher_id: int) -> ResponseReturnValue:
    voucher = voucher_document(read_db(), actor().org_id, voucher_id)
    return download(voucher_pdf(voucher), PDF_MIME, f"记账凭证_{voucher.number}.pdf", inline=True)
