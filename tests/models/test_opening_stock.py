"""post_opening_stock: a site's 期初库存 as new lots at cost, one voucher 1405 / 3104, reversible."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models.actor import Actor
from models.audit import AuditEntry
from models.demo import seed_demo
from models.documents import DocKind, DocStatus, Document
from models.errors import InvalidQuantity, NotFound, PeriodClosed, PermissionDenied, UnknownUnit, ValidationError
from models.infra import OutboxEvent
from models.operations.opening_stock import OpeningLine, PostOpeningStock, post_opening_stock
from models.operations.reversal import ReverseDocument, reverse_document
from models.stock import Lot
from models.timeutil import SHANGHAI
from models.uow import run
from tests.factories import assert_books_ok, lot_balance, row_counts, voucher_lines


def _post(session_factory, demo, actor, *lines: OpeningLine, site="ZC", key=None, when=None):
    return run(session_factory, post_opening_stock, actor,
               PostOpeningStock(demo.sites[site], tuple(lines), business_time=when, note="系统上线"),
               idempotency_key=key)


def _leaf(demo, quantity, cost, **kw) -> OpeningLine:
    return OpeningLine(demo.items["茶青"], D(quantity), D(cost), **kw)


def test_opening_stock_makes_lots_at_cost_and_books_1405_against_3104(session_factory, demo, actors):
    result = _post(session_factory, demo, actors["赵经理"],
                   _leaf(demo, 20, "60.5", unit="斤", grade_id=demo.grades["特级"], lot_code="期初-特级"),
                   OpeningLine(demo.items["龙井"], D(2), D("150"), unit="箱", produced_on=date(2026, 11, 1)))
    first, second = result.lines
    # 20 斤 = 10 公斤 at 60.5 → 605.00; 2 箱 = 40 罐 at 150 → 6000.00.
    assert (first.quantity, first.base_unit, first.value, first.lot_code) == (D(10), "公斤", D("605.00"), "期初-特级")
    assert (second.quantity, second.base_unit, second.value) == (D(40), "罐", D("6000.00"))
    assert second.lot_code == f"{result.number.removeprefix('QC-')}-2"
    assert result.total_value == D("6605.00") and result.voucher_number
    assert (lot_balance(session_factory, first.lot_id, demo.sites["ZC"]).on_hand,
            lot_balance(session_factory, first.lot_id, demo.sites["ZC"]).value) == (D(10), D("605.00"))
    assert lot_balance(session_factory, second.lot_id, demo.sites["ZC"]).value == D("6000.00")
    assert voucher_lines(session_factory, result.document_id) == [("1405", D("6605.00"), D(0)),
                                                                  ("3104", D(0), D("6605.00"))]
    with session_factory() as s:
        doc = s.get_one(Document, result.document_id)
        assert (doc.kind, doc.status, doc.total_amount, doc.number[:6]) == (
            DocKind.OPENING, DocStatus.POSTED, D("6605.00"), "QC-ZC-")
        lot = s.get_one(Lot, first.lot_id)
        assert lot.grade_id == demo.grades["特级"] and lot.expires_on is not None  # 茶青 keeps 3 days
        assert s.get_one(Lot, second.lot_id).produced_on == date(2026, 11, 1)
        audit = s.scalars(select(AuditEntry).where(AuditEntry.org_id == demo.org_id,
                                                   AuditEntry.action == "opening_stock.posted")).one()
        assert audit.after["total_value"] == "6605"
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                    OutboxEvent.kind == "opening.posted")).one()
        assert event.payload["lines"] == 2 and event.document_id == result.document_id
    assert_books_ok(session_factory, demo.org_id)


def test_a_replay_with_the_same_key_posts_once(session_factory, demo, actors):
    key = f"opening-{uuid.uuid4().hex}"
    first = _post(session_factory, demo, actors["钱总监"], _leaf(demo, 5, 80), key=key)
    again = _post(session_factory, demo, actors["钱总监"], _leaf(demo, 5, 80), key=key)
    assert again == first
    with session_factory() as s:
        assert len(s.scalars(select(Document).where(Document.org_id == demo.org_id,
                                                    Document.kind == DocKind.OPENING)).all()) == 1


@pytest.mark.parametrize("who", ["小周", "老孙", "吴会计", "王阿姨"])
def test_only_who_may_set_prices_and_receive_there_may_post_it(session_factory, demo, actors, who):
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(PermissionDenied):
        _post(session_factory, demo, actors[who], _leaf(demo, 5, 80), site="SX")
    assert row_counts(session_factory, demo.org_id) == before


def test_another_orgs_site_or_item_is_not_found_and_nothing_is_written(session_factory, demo, actors):
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:12]}", "另一个合作社")
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(NotFound):
        run(session_factory, post_opening_stock, actors["赵经理"],
            PostOpeningStock(other.sites["ZC"], (_leaf(demo, 5, 80),)))
    with pytest.raises(NotFound):
        _post(session_factory, demo, actors["赵经理"], OpeningLine(other.items["茶青"], D(5), D(80)))
    assert row_counts(session_factory, demo.org_id) == before


@pytest.mark.parametrize(("line", "error", "words"), [
    (dict(quantity=5, cost=80, unit="桶"), UnknownUnit, "第 2 行：茶青 不认识单位“桶”"),
    (dict(quantity=0, cost=80), InvalidQuantity, "第 2 行：数量必须大于零"),
    (dict(quantity=-3, cost=80), InvalidQuantity, "数量必须大于零"),
    (dict(quantity="1e12", cost=80), InvalidQuantity, "数量过大"),
    (dict(quantity=5, cost=-1), ValidationError, "第 2 行：单价不能为负"),
    (dict(quantity=5, cost="1e9"), ValidationError, "单价过大"),
    (dict(quantity=5, cost=80, lot_code="A1"), ValidationError, "批次号 A1 与第 1 行重复"),
])
def test_bad_lines_are_refused_by_line_and_write_nothing(session_factory, demo, actors, line, error, words):
    before = row_counts(session_factory, demo.org_id)
    quantity, cost = line.pop("quantity"), line.pop("cost")
    with pytest.raises(error, match=words):
        _post(session_factory, demo, actors["赵经理"], _leaf(demo, 1, 10, lot_code="A1"),
              _leaf(demo, quantity, cost, **line))
    assert row_counts(session_factory, demo.org_id) == before


def test_a_lot_number_the_item_already_has_and_a_grade_of_another_item_are_refused(session_factory, demo, actors):
    _post(session_factory, demo, actors["赵经理"], _leaf(demo, 1, 10, lot_code="B7"))
    with pytest.raises(ValidationError, match="批次号 B7 已存在"):
        _post(session_factory, demo, actors["赵经理"], _leaf(demo, 1, 10, lot_code="B7"))
    with pytest.raises(ValidationError, match="没有这个等级"):
        _post(session_factory, demo, actors["赵经理"],
              OpeningLine(demo.items["龙井"], D(1), D(10), grade_id=demo.grades["特级"]))


def test_an_opening_in_a_closed_month_is_refused_and_writes_nothing(session_factory, demo, actors):
    from models.operations.closing import ClosePeriod, close_period

    run(session_factory, close_period, actors["吴会计"], ClosePeriod("202611"))
    before = row_counts(session_factory, demo.org_id)
    with pytest.raises(PeriodClosed, match="2026年11月已结账"):
        _post(session_factory, demo, actors["钱总监"], _leaf(demo, 5, 80),
              when=datetime(2026, 11, 20, 10, tzinfo=SHANGHAI))  # the director may backdate
    assert row_counts(session_factory, demo.org_id) == before


def test_an_opening_document_reverses_like_a_count(session_factory, demo, actors):
    result = _post(session_factory, demo, actors["赵经理"], _leaf(demo, 5, 80), _leaf(demo, 3, 100))
    rev = run(session_factory, reverse_document, actors["赵经理"], ReverseDocument(result.document_id, "录错了"))
    for line in result.lines:
        bal = lot_balance(session_factory, line.lot_id, demo.sites["ZC"])
        assert (bal.on_hand, bal.value) == (D(0), D(0))
    assert voucher_lines(session_factory, rev.document_id) == [("1405", D("-700.00"), D(0)),
                                                               ("3104", D(0), D("-700.00"))]
    with session_factory() as s:
        assert s.get_one(Document, result.document_id).status == DocStatus.REVERSED
    assert_books_ok(session_factory, demo.org_id)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.decimals(min_value=D("0.001"), max_value=D(5000), places=3),
                          st.decimals(min_value=D(0), max_value=D(999), places=2)), min_size=1, max_size=6))
def test_the_voucher_debit_is_the_sum_of_the_lines_values(session_factory, demo, lines):
    actor = Actor.system_actor(demo.org_id)
    result = run(session_factory, post_opening_stock, actor, PostOpeningStock(
        demo.sites["MD"], tuple(OpeningLine(demo.items["茶青"], q, c) for q, c in lines)))
    total = sum((line.value for line in result.lines), D(0))
    assert result.total_value == total
    debit = sum((d for _code, d, _c in voucher_lines(session_factory, result.document_id)), D(0))
    assert debit == total


def test_a_generated_lot_number_never_takes_one_already_used(session_factory, demo, actors):
    first = _post(session_factory, demo, actors["赵经理"], _leaf(demo, 1, 10))
    series, seq = first.number.rsplit("-", 1)
    following = f"{series}-{int(seq) + 1:04d}".removeprefix("QC-")  # the next opening document's number
    second = _post(session_factory, demo, actors["赵经理"], _leaf(demo, 1, 10, lot_code=f"{following}-2"),
                   _leaf(demo, 1, 10))
    assert second.number.removeprefix("QC-") == following
    own, made = second.lines
    assert own.lot_code == f"{following}-2"
    assert made.lot_code.startswith(f"{following}-2-") and len(made.lot_code) == len(own.lot_code) + 7
