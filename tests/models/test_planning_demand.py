"""Demand history: imports are all-or-nothing with a report; the ledger gives demand, returns and censored weeks."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from models.demand import daily_demand, demand_series, weekly_demand
from models.documents import DocKind, Document
from models.errors import PermissionDenied
from models.operations import ReverseDocument, reverse_document
from models.operations.demand_import import ImportDemand, ImportRejected, import_demand
from models.planning import DemandImport, DemandKind, DemandRow
from models.uow import run
from tests.models.planning_fakes import at, monday, weekly_history


def _count(session_factory, model, org_id):
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id))


def _csv(rows):
    return ("\n".join(",".join(map(str, r)) for r in rows) + "\n").encode()


def test_a_bad_file_is_refused_whole_with_a_report_naming_the_rows(session_factory, demo, actors):
    w = [monday(k).isoformat() for k in (6, 5, 4, 3, 2, 1)]
    content = _csv([("商品编码", "地点编码", "周", "数量"),
                    ("LJ250", "MD", w[0], 10),      # row 2: fine
                    ("NOPE", "MD", w[1], 4),        # row 3: unknown item
                    ("LJ250", "MD", w[1], -2),      # row 4: negative
                    ("LJ250", "MD", w[4], 7),       # weeks w[1..3] now missing for LJ250 @ MD
                    ("LJ250", "XX", w[0], 1),       # row 6: unknown site
                    ("LJ250", "MD", "下周", 1),     # row 7: unparseable week
                    ("LJ250", "MD", w[0], 3)])      # row 8: duplicate of row 2
    with pytest.raises(ImportRejected) as caught:
        run(session_factory, import_demand, actors["赵经理"], ImportDemand(content, "history.csv"))
    report = caught.value.details["report"]
    errors = {e["code"]: e for e in report["errors"]}
    assert errors["UNKNOWN_ITEM"]["rows"] == [3] and errors["UNKNOWN_ITEM"]["item_code"] == "NOPE"
    assert errors["NEGATIVE_VALUE"]["rows"] == [4]
    assert errors["UNKNOWN_SITE"]["rows"] == [6]
    assert errors["UNPARSEABLE"]["rows"] == [7]
    assert errors["DUPLICATE_ROW"]["rows"] == [2, 8]
    missing = next(x for x in report["warnings"] if x["code"] == "MISSING_WEEKS")
    assert missing["weeks"] == w[1:4] and missing["site_code"] == "MD"
    assert _count(session_factory, DemandRow, demo.org_id) == 0
    assert _count(session_factory, DemandImport, demo.org_id) == 0


def test_dry_run_writes_nothing_then_the_import_writes_everything(session_factory, demo, actors):
    w = [monday(k).isoformat() for k in (3, 2, 1)]
    content = _csv([("item code", "site code", "week", "quantity", "kind")] +
                   [("LJ250", "MD", d, q, "sale") for d, q in zip(w, (8, 9, 10), strict=True)] +
                   [("LJ250", "MD", w[2], 1, "退货"), ("LJ250", "MD", w[2], 2, "赠品")])
    dry = run(session_factory, import_demand, actors["赵经理"], ImportDemand(content, "h.csv", dry_run=True))
    assert dry.dry_run and not dry.written and dry.rows_valid == 5 and dry.errors == []
    assert _count(session_factory, DemandRow, demo.org_id) == 0
    done = run(session_factory, import_demand, actors["赵经理"], ImportDemand(content, "h.csv"),
               idempotency_key="imp-1")
    assert done.written and done.import_id and done.rows_valid == 5
    assert _count(session_factory, DemandRow, demo.org_id) == 5
    # a replay answers the first report and writes nothing more; the same file again is refused
    again = run(session_factory, import_demand, actors["赵经理"], ImportDemand(content, "h.csv"),
                idempotency_key="imp-1")
    assert again.import_id == done.import_id
    with pytest.raises(ImportRejected, match="错误"):
        run(session_factory, import_demand, actors["赵经理"], ImportDemand(content, "h.csv"))
    assert _count(session_factory, DemandRow, demo.org_id) == 5
    with session_factory() as session:
        weeks = weekly_demand(session, demo.org_id)[(demo.items["龙井"], demo.sites["MD"])]
    last = next(x for x in weeks if x.week == monday(1))
    assert (last.sale, last.returns, last.giveaway) == (Decimal(10), Decimal(1), Decimal(2))


def test_excel_daily_rows_with_kinds(session_factory, demo, actors):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["商品编码", "地点编码", "日期", "数量", "类型"])
    day = monday(2)
    sheet.append(["LJ250", "ZC", day, 5, "销售"])
    sheet.append(["LJ250", "ZC", (day + timedelta(days=1)).isoformat(), 2.5, "退货"])
    buf = io.BytesIO()
    book.save(buf)
    report = run(session_factory, import_demand, actors["钱总监"], ImportDemand(buf.getvalue(), "d.xlsx"))
    assert report.granularity == "day" and report.rows_valid == 2
    with session_factory() as session:
        kinds = sorted(session.scalars(select(DemandRow.kind).where(DemandRow.org_id == demo.org_id)))
        days = daily_demand(session, demo.org_id)[(demo.items["龙井"], demo.sites["ZC"])]
    assert kinds == [DemandKind.RETURN, DemandKind.SALE]
    assert days[0].sale == 5 and days[1].returns == Decimal("2.5") and days[0].on_hand is None


def test_a_clerk_may_not_import(session_factory, demo, actors):
    with pytest.raises(PermissionDenied):
        run(session_factory, import_demand, actors["小周"],
            ImportDemand(_csv([("商品编码", "地点编码", "周", "数量")])))


def test_ledger_demand_with_stockouts_censored_and_returns_separate(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [5, 3, 4])  # stock runs out in the last week
    with session_factory() as session:
        weeks = weekly_demand(session, demo.org_id)[(demo.items["龙井"], demo.sites["MD"])]
    by_week = {w.week: w for w in weeks}
    assert [by_week[monday(k)].sale for k in (3, 2, 1)] == [5, 3, 4]
    assert [by_week[monday(k)].censored for k in (3, 2, 1)] == [False, False, True]
    assert by_week[monday(1)].stockout_days == 6  # Tuesday to Sunday at zero
    assert by_week[monday(0)].censored  # still out of stock this week


def test_reversed_shipment_counts_as_a_return(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [2, 6], stock_first=20)
    with session_factory() as session:
        doc_id = session.scalar(select(Document.id).where(
            Document.org_id == demo.org_id, Document.kind == DocKind.SHIPMENT).order_by(Document.id.desc()))
    run(session_factory, reverse_document, actors["钱总监"], ReverseDocument(
        doc_id, "客户退货", business_time=at(monday(1) + timedelta(days=3))))
    with session_factory() as session:
        weeks = {w.week: w for w in weekly_demand(session, demo.org_id)[(demo.items["龙井"], demo.sites["MD"])]}
        series, _ = demand_series(session, demo.org_id, first_forecast_week=monday(0))
    assert (weeks[monday(1)].sale, weeks[monday(1)].returns) == (6, 6)
    assert not any(w.censored for w in weeks.values())
    (s,) = series
    assert s.key == f"{demo.items['龙井']}:{demo.sites['MD']}" and s.values[-2:] == (2.0, 6.0)
    assert s.start + timedelta(days=7 * len(s.values)) == monday(0)
