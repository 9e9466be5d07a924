"""期初库存 import: every row checked first, one opening document per site, all rows or none."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.documents import DocKind, Document, DocumentLine
from models.errors import PermissionDenied
from models.operations.demand_import import ImportRejected
from models.operations.masterdata_import import ImportKind, ImportMasterData, import_master_data, template
from models.org import Role
from models.stock import Lot
from models.uow import run
from tests.factories import assert_books_ok, voucher_lines
from tests.operations.test_settings_admin import workbook
from tests.security.conftest import rows

HEAD = ["站点编码", "商品编码", "数量", "单位", "批次号", "等级", "单位成本", "生产日期", "到期日"]


def _import(session_factory, actor, content, dry_run=False):
    return run(session_factory, import_master_data, actor,
               ImportMasterData(ImportKind.OPENING_STOCK, content, "期初.xlsx", dry_run))


def _openings(session_factory, org_id):
    with session_factory() as s:
        return list(s.scalars(select(Document).where(Document.org_id == org_id, Document.kind == DocKind.OPENING)
                              .order_by(Document.id)))


def test_a_good_sheet_posts_one_opening_document_per_site(session_factory, demo, actors):
    content = workbook(HEAD,
                       ["ZC", "CQ", 30, "斤", "QC-A", "特级", 100, date(2026, 11, 1), None],
                       ["MD", "LJ250", 2, "箱", None, None, "88.5", None, None],
                       ["ZC", "CQ", "5", None, None, None, 40, None, "2027-01-31"])
    dry = _import(session_factory, actors["赵经理"], content, dry_run=True)
    assert (dry.rows_valid, dry.written) == (3, False) and not _openings(session_factory, demo.org_id)
    done = _import(session_factory, actors["赵经理"], content)
    assert (done.rows_valid, done.written, done.kind) == (3, True, "opening_stock")
    zc, md = _openings(session_factory, demo.org_id)
    assert (zc.site_id, zc.total_amount, md.site_id, md.total_amount) == (
        demo.sites["ZC"], D("1700.00"), demo.sites["MD"], D("3540.00"))  # 15 kg × 100 + 5 × 40; 40 罐 × 88.5
    assert voucher_lines(session_factory, zc.id) == [("1405", D("1700.00"), D(0)), ("3104", D(0), D("1700.00"))]
    with session_factory() as s:
        lines = s.scalars(select(DocumentLine).where(DocumentLine.document_id == zc.id)
                          .order_by(DocumentLine.line_no)).all()
        first, second = (s.get_one(Lot, ln.lot_id) for ln in lines)
        assert (first.code, first.grade_id, first.produced_on) == ("QC-A", demo.grades["特级"], date(2026, 11, 1))
        assert second.expires_on == date(2027, 1, 31)
    assert_books_ok(session_factory, demo.org_id)


def test_one_bad_row_writes_nothing_and_every_bad_cell_is_reported(session_factory, engine, demo, actors):
    _import(session_factory, actors["赵经理"], workbook(HEAD, ["ZC", "CQ", 1, None, "OLD", None, 1, None, None]))
    content = workbook(HEAD,
                       ["ZC", "CQ", 10, None, None, "一级", 80, None, None],
                       ["ZC", "CQ", 2, "桶", None, None, 80, None, None],  # no such unit
                       ["XX", "CQ", 0, None, None, None, -1, None, None],  # site, quantity, cost
                       ["MD", "LJ250", 1, None, "OLD2", "特级", 20, "明天", None],  # grade of 茶青, a date
                       ["MD", "CQ", 1, None, "OLD", None, 20, None, None])  # lot number taken
    before = rows(engine)
    with pytest.raises(ImportRejected, match="有 4 行有错误，未写入任何数据") as refused:
        _import(session_factory, actors["赵经理"], content)
    report = refused.value.details["report"]
    assert {(e["row"], e["column"]) for e in report["errors"]} == {
        (3, "单位"), (4, "站点编码"), (4, "数量"), (4, "单位成本"), (5, "等级"), (5, "生产日期"), (6, "批次号")}
    assert any("不认识单位“桶”" in e["message"] for e in report["errors"])
    assert rows(engine) == before


def test_a_clerk_cannot_import_opening_stock_and_a_site_manager_only_for_their_site(session_factory, demo, actors):
    content = workbook(HEAD, ["ZC", "CQ", 1, None, None, None, 1, None, None])
    with pytest.raises(PermissionDenied):
        _import(session_factory, actors["小周"], content)
    with pytest.raises(PermissionDenied):
        _import(session_factory, actors["吴会计"], content)
    shaoxing_manager = replace(actors["赵经理"], roles=((Role.MANAGER, demo.sites["SX"]),))
    with pytest.raises(ImportRejected) as refused:
        _import(session_factory, shaoxing_manager, content)
    assert [(e["row"], e["message"]) for e in refused.value.details["report"]["errors"]] == [
        (2, "没有权限登记 总仓 的期初库存")]
    assert not _openings(session_factory, demo.org_id)


def test_the_template_lists_the_columns_with_notes():
    header, notes = template(ImportKind.OPENING_STOCK)
    assert header == HEAD
    assert [n[1] for n in notes if n[0] in ("站点编码", "商品编码", "数量", "单位成本")] == ["必填"] * 4


def test_a_row_the_operation_refuses_is_named_by_its_sheet_row(session_factory, engine, demo, actors):
    """The plan does not repeat every rule of the operation (precision here): its refusal names the row."""
    content = workbook(HEAD, ["MD", "CQ", 1, None, None, None, 1, None, None],
                       ["ZC", "CQ", 1, None, None, None, 1, None, None],
                       ["ZC", "CQ", "0.0000001", None, None, None, 1, None, None])
    before = rows(engine)
    with pytest.raises(ImportRejected, match="第 4 行：数量精度过高") as refused:
        _import(session_factory, actors["赵经理"], content)
    assert [e["row"] for e in refused.value.details["report"]["errors"]] == [4]
    assert rows(engine) == before
