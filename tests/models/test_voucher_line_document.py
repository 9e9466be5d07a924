"""voucher_lines.document_id: each line carries its voucher's document, whichever path wrote it (the
posting writer for a receipt, the ORM for a reversal, a repost and a settlement), so the per-document
sums of the cash forecast (models.queries.cash_forecast) can read the lines alone."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from models.finance import Voucher, VoucherLine
from models.operations import (
    ChangeMappingRule,
    ReceiveGoods,
    ReverseDocument,
    SettleFarmer,
    change_mapping_rule,
    receive_goods,
    reverse_document,
    settle_farmer,
)
from models.uow import run
from tests.models.test_mapping import TO_RAW_MATERIAL, _farmer_rule


def _receive(sf, demo, actors, qty):
    return run(sf, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))


def _lines(sf, demo, number):
    """(voucher's document, [each line's document]) of the voucher numbered ``number``."""
    with sf() as s:
        voucher = s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id, Voucher.number == number)).one()
        return voucher.document_id, [ln.document_id for ln in voucher.lines]


def test_receipt_reversal_repost_and_settlement_lines_carry_the_document(session_factory, demo, actors):
    sf = session_factory
    kept = _receive(sf, demo, actors, 10)
    assert _lines(sf, demo, kept.voucher_number) == (kept.document_id, [kept.document_id] * 2)

    undone = _receive(sf, demo, actors, 3)
    reversal = run(sf, reverse_document, actors["吴会计"], ReverseDocument(undone.document_id, "重复录入"))
    with sf() as s:
        red = s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id,
                                              Voucher.reverses_voucher_id.is_not(None))).one()
        red_number = red.number
    assert reversal is not None
    document, lines = _lines(sf, demo, red_number)
    assert document is not None and lines == [document] * 2

    change = run(sf, change_mapping_rule, actors["吴会计"], ChangeMappingRule(
        _farmer_rule(sf, demo).id, TO_RAW_MATERIAL, reason="茶青记原材料"))
    assert change.new_numbers and change.reversal_numbers
    for number in [*change.reversal_numbers, *change.new_numbers]:
        document, lines = _lines(sf, demo, number)
        assert document is not None and lines == [document] * len(lines) and lines

    paid = run(sf, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))
    document, lines = _lines(sf, demo, paid.voucher_number)
    assert document is not None and lines == [document] * len(lines) and lines

    # And no line of the org disagrees with its voucher.
    with sf() as s:
        assert s.execute(select(VoucherLine.id).join(Voucher, Voucher.id == VoucherLine.voucher_id).where(
            VoucherLine.org_id == demo.org_id,
            VoucherLine.document_id.is_distinct_from(Voucher.document_id))).all() == []
