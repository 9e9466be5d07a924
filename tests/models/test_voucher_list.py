"""The voucher list: one org's vouchers in a date range, with lines, in number order; and the
exports written from it carry exactly the books' lines."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from exports.voucher_layout import load_map, mapped_csv
from models.actor import Actor
from models.base import utcnow
from models.demo import seed_demo
from models.errors import ValidationError
from models.finance import VoucherLine
from models.operations import ReverseDocument, reverse_document
from models.operations.money import RecordMoney, receive_money
from models.queries import vouchers as voucher_queries
from models.queries.vouchers import split_number, voucher_list
from models.timeutil import local_date
from models.uow import run
from tests.factories import receive, ship


def test_the_range_the_order_the_names_and_the_totals(session_factory, demo):
    receive(session_factory, demo, 20)
    now = utcnow()
    old = ship(session_factory, demo, 1, unit_price=300, business_time=now - timedelta(days=40))
    new = ship(session_factory, demo, 1, unit_price=200, business_time=now - timedelta(days=1))
    today = local_date(now)
    with session_factory() as s:
        recent = voucher_list(s, demo.org_id, today - timedelta(days=7), today)
        everything = voucher_list(s, demo.org_id, today - timedelta(days=60), today)
    documents = {v.document_number for v in recent.vouchers}
    assert new.number in documents and old.number not in documents
    assert {old.number, new.number} <= {v.document_number for v in everything.vouchers}
    numbers = [v.number for v in everything.vouchers]
    assert numbers == sorted(numbers)
    assert everything.debit_total == everything.credit_total > 0
    assert everything.line_count == sum(len(v.lines) for v in everything.vouchers)
    sale = next(v for v in everything.vouchers if v.document_number == new.number)
    receivable = next(ln for ln in sale.lines if ln.account_code == "1122")
    assert (receivable.account_name, receivable.party_name, receivable.debit) == ("应收账款", "杭州茶城", D("200.00"))
    assert sale.word == "记" and sale.seq is not None and sale.attachments == 1


def test_a_range_too_long_or_too_big_is_refused(session_factory, demo, monkeypatch):
    receive(session_factory, demo, 20)
    ship(session_factory, demo, 1)
    today = local_date(utcnow())
    with session_factory() as s:
        with pytest.raises(ValidationError):
            voucher_list(s, demo.org_id, today, today - timedelta(days=1))
        with pytest.raises(ValidationError):
            voucher_list(s, demo.org_id, today - timedelta(days=800), today)
        monkeypatch.setattr(voucher_queries, "MAX_VOUCHER_LINES", 3)
        with pytest.raises(ValidationError, match="超过 3 行"):
            voucher_list(s, demo.org_id, today, today)


@pytest.mark.parametrize("number, parts", [("记-202611-00012", ("记", 12)), ("收-202611-7", ("收", 7)),
                                           ("202611", ("202611", None)), ("记-202611-A1", ("记", None)),
                                           ("记-N1-202611-00012", ("记", None))])
def test_voucher_numbers_split_into_word_and_number(number, parts):
    assert split_number(number) == parts


_step = st.tuples(st.sampled_from(["sell", "receive", "reverse"]), st.integers(1, 9999), st.integers(0, 20))


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(_step, min_size=1, max_size=6))
def test_the_export_carries_exactly_the_books_lines(session_factory, steps):
    """Whatever is sold, paid and reversed on any day: the 用友 CSV has one row per voucher line in the
    range, its debit and credit columns add up to each other and to the books' own sums."""
    demo = run(session_factory, seed_demo, f"vl-{len(steps)}-{abs(hash(tuple(steps))) % 10**10}")
    system = Actor.system_actor(demo.org_id)
    receive(session_factory, demo, 200)
    now = utcnow()
    sales = []
    for kind, amount, days in steps:
        when = now - timedelta(days=days)
        if kind == "sell":
            sales.append(ship(session_factory, demo, 1, unit_price=D(amount) / 100, business_time=when))
        elif kind == "receive":
            run(session_factory, receive_money, system, RecordMoney(demo.parties["杭州茶城"], D(amount),
                                                                    business_time=when))
        elif sales:
            run(session_factory, reverse_document, system, ReverseDocument(sales.pop().document_id, "录错"))
    today = local_date(now)
    start = today - timedelta(days=10)
    with session_factory() as s:
        listed = voucher_list(s, demo.org_id, start, today)
        debit, credit, count = s.execute(
            select(func.sum(VoucherLine.debit), func.sum(VoucherLine.credit), func.count())
            .where(VoucherLine.org_id == demo.org_id, VoucherLine.voucher_date >= start,
                   VoucherLine.voucher_date <= today)).one()
    rows = list(csv.reader(io.StringIO(mapped_csv(listed, load_map("yonyou_t3")).decode("gbk"))))[1:]
    assert len(rows) == listed.line_count == count
    assert sum(D(r[6]) for r in rows) == sum(D(r[7]) for r in rows) == listed.debit_total == D(debit or 0)
    assert listed.credit_total == D(credit or 0)
