"""What the printed documents show: a shipment drawn from two lots is one priced line whose amount
is the booked revenue; a voucher's lines carry account and party names and balance."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.errors import NotFound, PermissionDenied
from models.finance import Voucher
from models.queries.print_documents import printable_delivery_note, shipment_note, voucher_document
from tests.factories import receive, ship


def test_a_shipment_from_two_lots_prints_one_line_priced_as_booked(session_factory, demo, actors):
    today = date.today()
    receive(session_factory, demo, "1.011", expires_on=today + timedelta(days=2))
    receive(session_factory, demo, "5", expires_on=today + timedelta(days=3))
    # Per lot, 1.011 × 0.5 rounds to 0.51 twice (1.02); the shipment booked 2.022 × 0.5 = 1.01 once.
    shipped = ship(session_factory, demo, "2.022", unit_price="0.5", tax_rate=D("0.13"))
    with session_factory() as s:
        note = shipment_note(s, actors["吴会计"], shipped.document_id)
    assert len(note.lines) == 1 and len(note.lines[0].lot_codes) == 2  # FEFO took both lots
    line = note.lines[0]
    assert (line.item_name, line.quantity, line.unit, line.unit_price) == ("茶青", D("2.022"), "公斤", D("0.5"))
    assert line.amount == note.goods == shipped.revenue == D("1.01")
    assert (note.tax, note.total) == (shipped.tax, shipped.total)
    assert (note.party_name, note.site_name, note.number) == ("杭州茶城", "总仓", shipped.number)


def test_a_voucher_prints_with_names_and_balances(session_factory, demo):
    receive(session_factory, demo, 5)
    shipped = ship(session_factory, demo, 1, unit_price=250)
    with session_factory() as s:
        voucher_id = s.scalar(select(Voucher.id).where(Voucher.document_id == shipped.document_id))
        printed = voucher_document(s, demo.org_id, voucher_id)
    assert printed.document_number == shipped.number and printed.attachments == 1
    assert printed.debit_total == printed.credit_total == D("250.00") + shipped.cost
    receivable = next(ln for ln in printed.lines if ln.account_code == "1122")
    assert (receivable.account_name, receivable.party_name, receivable.debit) == ("应收账款", "杭州茶城", D("250.00"))


def test_who_sees_which_paper(session_factory, demo, actors):
    receipt = receive(session_factory, demo, 5)
    shipped = ship(session_factory, demo, 1)
    with session_factory() as s:
        with pytest.raises(PermissionDenied):
            shipment_note(s, actors["小周"], shipped.document_id)  # 绍兴's clerk; shipped from 总仓
        with pytest.raises(NotFound):
            shipment_note(s, actors["吴会计"], receipt.document_id)  # a receipt is no shipment
        assert printable_delivery_note(s, actors["王阿姨"], receipt.document_id).party_name == "王阿姨"
        with pytest.raises(NotFound):
            voucher_document(s, demo.org_id + 10_000, 1)
