"""Excel / CSV exports and PDFs to print: /api/v1/exports/* and /api/v1/print/*.

Each route runs the same query the JSON routes run (receivables, vouchers, print documents) and
hands the result to the exports library for bytes. Finance files need 查看财务; a shipment's or a
delivery's paper, whoever may see that document (checked in models.queries.print_documents).
File names are Chinese, sent per RFC 5987 (``filename*=UTF-8''…``) with an ASCII fallback.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from exports.books_xlsx import (
    GROUP_HEADS,
    balance_sheet_xlsx,
    cash_forecast_xlsx,
    income_statement_xlsx,
    margin_xlsx,
    trial_balance_xlsx,
    vat_summary_xlsx,
)
from exports.pdf import PDF_MIME, delivery_note_pdf, shipment_pdf, statement_pdf, voucher_pdf
from exports.voucher_layout import CSV_MIME, load_map, mapped_csv, mapped_xlsx
from exports.xlsx import XLSX_MIME, aging_xlsx, local_naive, open_items_xlsx, statement_xlsx
from miniprogram_api.apiutil import Id, IsoDate
from miniprogram_api.books import PeriodQuery as BooksPeriodQuery
from miniprogram_api.cash import ForecastQuery
from miniprogram_api.errors import ErrorBody
from miniprogram_api.margin import RollupQuery
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from miniprogram_api.vat import PeriodQuery as VatPeriodQuery
from models.actor import Permission
from models.base import utcnow
from models.queries.cash_forecast import KIND_LABELS
from models.queries.print_documents import org_name, printable_delivery_note, shipment_note, voucher_document
from models.queries.receivables import BUCKET_LABELS, BUCKETS, Statement, aging, party_open_items, statement
from models.queries.statements import balance_sheet, income_statement, trial_balance
from models.queries.vat import vat_summary
from models.queries.vouchers import VoucherList, voucher_list
from models.subledger import SIDE_LABELS, Side
from models.timeutil import local_date

api = APIBlueprint("exports", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="导出与打印")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

SideName = Side


def _file(kind: str, mime: str) -> dict:
    return {"description": f"{kind}（Content-Disposition 附中文文件名，RFC 5987）", "content": {mime: {}}}


XLSX = _file("Excel 文件", XLSX_MIME)
PDF = _file("PDF 文件", PDF_MIME)
CSV = _file("CSV 文件（默认 GBK 编码）", CSV_MIME)


def content_disposition(filename: str, fallback: str, *, inline: bool = False) -> str:
    """``attachment; filename="aging.xlsx"; filename*=UTF-8''%E5%BA%94…``: an ASCII name for old
    clients, the Chinese one percent-encoded per RFC 5987 (RFC 6266) for the rest."""
    plain = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in fallback)
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _send(data: bytes, mime: str, filename: str, fallback: str, *, inline: bool = False) -> Response:
    response = Response(data, content_type=mime)
    response.headers["Content-Disposition"] = content_disposition(filename, fallback, inline=inline)
    response.headers["Cache-Control"] = "no-store"  # the books: never in a shared cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- receivables and payables --------------------------------------------------------------------

class AgingQuery(BaseModel):
    side: SideName = Field(Side.RECEIVABLE, description="receivable（应收）或 payable（应付）")
    as_of: IsoDate | None = Field(None, description="截至哪一天（含）；默认今天")
    basis: str = Field("due", pattern="^(due|document)$", description="due：按到期日；document：按单据日期")


@endpoint(api.get, "/exports/aging.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def aging_export(ctx: Ctx, query: AgingQuery) -> Response:
    """应收/应付账龄表 as Excel: one row per party, a column per bucket, totals, the control check."""
    day = query.as_of or local_date(utcnow())
    org_id = ctx.actor.org_id
    report = aging(ctx.session, org_id, query.side, day, query.basis)
    data = aging_xlsx(report, org_name(ctx.session, org_id), {k: BUCKET_LABELS[k] for k in BUCKETS})
    return _send(data, XLSX_MIME, f"{SIDE_LABELS[query.side]}账龄_{day.isoformat()}.xlsx",
                 f"aging_{query.side.value}_{day.isoformat()}.xlsx")


class StatementQuery(BaseModel):
    party_id: Id
    side: SideName = Side.RECEIVABLE
    date_from: IsoDate
    date_to: IsoDate


def _statement(ctx: Ctx, query: StatementQuery) -> Statement:
    return statement(ctx.session, ctx.actor.org_id, query.party_id, query.side, query.date_from, query.date_to)


def _statement_name(report: Statement, query: StatementQuery, ext: str) -> str:
    return f"对账单_{report.party_name}_{query.date_from.isoformat()}_{query.date_to.isoformat()}.{ext}"


@endpoint(api.get, "/exports/statement.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def statement_export(ctx: Ctx, query: StatementQuery) -> Response:
    """对账单 as Excel: opening balance, movements with the running balance, totals."""
    report = _statement(ctx, query)
    return _send(statement_xlsx(report, org_name(ctx.session, ctx.actor.org_id)), XLSX_MIME,
                 _statement_name(report, query, "xlsx"), f"statement_{query.party_id}.xlsx")


class OpenItemsQuery(BaseModel):
    party_id: Id
    side: SideName = Side.RECEIVABLE


@endpoint(api.get, "/exports/open-items.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def open_items_export(ctx: Ctx, query: OpenItemsQuery) -> Response:
    """A party's open items (未核销明细) as Excel."""
    report = party_open_items(ctx.session, ctx.actor.org_id, query.party_id, query.side)
    return _send(open_items_xlsx(report, org_name(ctx.session, ctx.actor.org_id)), XLSX_MIME,
                 f"未核销明细_{report.party_name}.xlsx", f"open_items_{query.party_id}.xlsx")


# -- vouchers ------------------------------------------------------------------------------------

class VoucherQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    date_from: IsoDate = Field(alias="from", description="凭证日期从（含）")
    date_to: IsoDate = Field(alias="to", description="凭证日期到（含）")
    layout: str = Field("default", pattern="^(default|yonyou_t3|kingdee_kis)$",
                        description="default：流转凭证列表；yonyou_t3：用友 T3/U8 凭证引入；"
                                    "kingdee_kis：金蝶 KIS 凭证引入")


class VoucherCsvQuery(VoucherQuery):
    encoding: str = Field("gbk", pattern="^(gbk|utf-8)$", description="gbk（用友/金蝶引入）或 utf-8")


def _vouchers(ctx: Ctx, query: VoucherQuery) -> VoucherList:
    return voucher_list(ctx.session, ctx.actor.org_id, query.date_from, query.date_to)


def _range(query: VoucherQuery) -> str:
    return f"{query.date_from:%Y%m%d}-{query.date_to:%Y%m%d}"


@endpoint(api.get, "/exports/vouchers.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def vouchers_export(ctx: Ctx, query: VoucherQuery) -> Response:
    """凭证列表 as Excel, one row per voucher line: our layout, or a 用友 / 金蝶 import layout."""
    layout = load_map(query.layout)
    data = mapped_xlsx(_vouchers(ctx, query), layout, org_name=org_name(ctx.session, ctx.actor.org_id))
    return _send(data, XLSX_MIME, f"凭证_{layout.name}_{_range(query)}.xlsx",
                 f"vouchers_{query.layout}_{_range(query)}.xlsx")


@endpoint(api.get, "/exports/vouchers.csv", permission=Permission.VIEW_FINANCE, response=CSV)
def vouchers_csv(ctx: Ctx, query: VoucherCsvQuery) -> Response:
    """The voucher lines as CSV in a layout (GBK by default: what 用友 and 金蝶 read)."""
    layout = load_map(query.layout)
    data = mapped_csv(_vouchers(ctx, query), layout, encoding=query.encoding)
    # "gbk" is written as GB18030 (its superset; see mapped_csv): the label says what the bytes are.
    mime = f"{CSV_MIME}; charset={'gb18030' if query.encoding == 'gbk' else 'utf-8'}"
    return _send(data, mime, f"凭证_{layout.name}_{_range(query)}.csv", f"vouchers_{query.layout}_{_range(query)}.csv")


# -- the books, margin, VAT, cash: the JSON routes' own query models run the same queries ------------

@endpoint(api.get, "/exports/trial-balance.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def trial_balance_export(ctx: Ctx, query: BooksPeriodQuery) -> Response:
    """科目余额表 as Excel: per account 期初 / 本期 / 期末 借方 and 贷方, the totals, the balance check."""
    period = query.value()
    report = trial_balance(ctx.session, ctx.actor.org_id, period)
    return _send(trial_balance_xlsx(report, org_name(ctx.session, ctx.actor.org_id)), XLSX_MIME,
                 f"科目余额表_{period}.xlsx", f"trial_balance_{period}.xlsx")


@endpoint(api.get, "/exports/balance-sheet.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def balance_sheet_export(ctx: Ctx, query: BooksPeriodQuery) -> Response:
    """资产负债表 (会小企01表) as Excel: 行次, 期末余额, 年初余额, assets beside liabilities and equity."""
    period = query.value()
    report = balance_sheet(ctx.session, ctx.actor.org_id, period)
    return _send(balance_sheet_xlsx(report, org_name(ctx.session, ctx.actor.org_id)), XLSX_MIME,
                 f"资产负债表_{period}.xlsx", f"balance_sheet_{period}.xlsx")


@endpoint(api.get, "/exports/income-statement.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def income_statement_export(ctx: Ctx, query: BooksPeriodQuery) -> Response:
    """利润表 (会小企02表) as Excel: 行次, 本期金额, 本年累计金额."""
    period = query.value()
    report = income_statement(ctx.session, ctx.actor.org_id, period)
    return _send(income_statement_xlsx(report, org_name(ctx.session, ctx.actor.org_id)), XLSX_MIME,
                 f"利润表_{period}.xlsx", f"income_statement_{period}.xlsx")


@endpoint(api.get, "/exports/margin.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def margin_export(ctx: Ctx, query: RollupQuery) -> Response:
    """订单毛利 by customer, item, site or month as Excel (the same arguments as /margin/rollup)."""
    report = query.run(ctx)
    span = f"{report.date_from:%Y%m%d}-{report.date_to:%Y%m%d}"
    return _send(margin_xlsx(report, org_name(ctx.session, ctx.actor.org_id)), XLSX_MIME,
                 f"订单毛利_按{GROUP_HEADS[report.group_by]}_{span}.xlsx", f"margin_{report.group_by}_{span}.xlsx")


@endpoint(api.get, "/exports/vat-summary.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def vat_summary_export(ctx: Ctx, query: VatPeriodQuery) -> Response:
    """增值税汇总 as Excel: a sheet by rate with the books' check, a sheet of the month's documents."""
    report = vat_summary(ctx.session, ctx.actor, query.value())
    return _send(vat_summary_xlsx(report, org_name(ctx.session, ctx.actor.org_id)), XLSX_MIME,
                 f"增值税汇总_{report.period}.xlsx", f"vat_summary_{report.period}.xlsx")


@endpoint(api.get, "/exports/cash-forecast.xlsx", permission=Permission.VIEW_FINANCE, response=XLSX)
def cash_forecast_export(ctx: Ctx, query: ForecastQuery) -> Response:
    """现金预测 as Excel: hour by hour from cash and bank now, and every item behind the figures."""
    report = query.run(ctx)
    stamp = f"{local_naive(report.as_of):%Y%m%d%H}"
    return _send(cash_forecast_xlsx(report, org_name(ctx.session, ctx.actor.org_id),
                                    {k.value: label for k, label in KIND_LABELS.items()}), XLSX_MIME,
                 f"现金预测_{report.hours}小时_{stamp}.xlsx", f"cash_forecast_{report.hours}h_{stamp}.xlsx")


# -- print ---------------------------------------------------------------------------------------

class VoucherPath(BaseModel):
    voucher_id: Id


class DocumentPath(BaseModel):
    document_id: Id


@endpoint(api.get, "/print/vouchers/<int:voucher_id>.pdf", permission=Permission.VIEW_FINANCE, response=PDF)
def print_voucher(ctx: Ctx, path: VoucherPath) -> Response:
    """记账凭证 as PDF: lines, totals in figures and in capitals (大写), sign-off row."""
    voucher = voucher_document(ctx.session, ctx.actor.org_id, path.voucher_id)
    return _send(voucher_pdf(voucher), PDF_MIME, f"记账凭证_{voucher.number}.pdf", f"voucher_{voucher.voucher_id}.pdf",
                 inline=True)


@endpoint(api.get, "/print/shipments/<int:document_id>.pdf",
          permission=Anyone("该站点有出库权限者或查看财务者；由 shipment_note 按单据检查"), response=PDF)
def print_shipment(ctx: Ctx, path: DocumentPath) -> Response:
    """送货单 as PDF: customer, site, lines, goods, tax and total (大写), signature boxes."""
    note = shipment_note(ctx.session, ctx.actor, path.document_id)
    return _send(shipment_pdf(note), PDF_MIME, f"送货单_{note.number}.pdf", f"{note.number}.pdf", inline=True)


@endpoint(api.get, "/print/delivery-notes/<int:document_id>.pdf",
          permission=Anyone("交货的农户本人、录入人、该站点有收货权限者或查看财务者；由 printable_delivery_note 检查"),
          response=PDF)
def print_delivery_note(ctx: Ctx, path: DocumentPath) -> Response:
    """A farmer's 交货单 as PDF (the same data as the mini-program's delivery note)."""
    note = printable_delivery_note(ctx.session, ctx.actor, path.document_id)
    return _send(delivery_note_pdf(note), PDF_MIME, f"交货单_{note.number}.pdf", f"{note.number}.pdf", inline=True)


@endpoint(api.get, "/print/statement.pdf", permission=Permission.VIEW_FINANCE, response=PDF)
def print_statement(ctx: Ctx, query: StatementQuery) -> Response:
    """对账单 as PDF, with the closing balance in capitals and room for both sides to sign."""
    report = _statement(ctx, query)
    return _send(statement_pdf(report, org_name(ctx.session, ctx.actor.org_id)), PDF_MIME,
                 _statement_name(report, query, "pdf"), f"statement_{query.party_id}.pdf", inline=True)

