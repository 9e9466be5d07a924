"""VAT basics: rate precedence, tax per line to the fen, 222101/222102, invoice numbers, the summary."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, type_coerce

from models.actor import Actor
from models.audit import AuditEntry
from models.base import utcnow
from models.catalog import Dimension
from models.documents import Document, DocumentLine
from models.errors import InsufficientStock, InvalidState, NotFound, PermissionDenied, ValidationError
from models.finance import Voucher, VoucherLine
from models.operations import ReverseDocument, reverse_document
from models.operations.invoices import SetInvoiceNumber, set_invoice_number
from models.operations.masterdata import CreateItem, CreateParty, SetVatRate, create_item, create_party, set_vat_rate
from models.operations.money import RecordMoney, receive_money
from models.org import Org, PartyKind
from models.queries.vat import vat_summary
from models.timeutil import period_of
from models.types import Money
from models.uow import run
from models.vat import check_rate, line_tax, resolve_rate
from tests.factories import assert_books_ok, receive, row_counts, ship, voucher_lines

THIS_MONTH = period_of(utcnow())


def _rate(sf, actor, rate, *, item=None, party=None):
    return run(sf, set_vat_rate, actor, SetVatRate(None if rate is None else D(rate), item_id=item, party_id=party))


def _buy_jars(sf, demo, qty=10, price="20", **fields):
    """包装厂 (a supplier) delivers 龙井 jars to 总仓."""
    return receive(sf, demo, qty, item="龙井", party="包装厂", grade=None, unit_price=D(price), **fields)


def _sell_jars(sf, demo, qty=1, price="100", **fields):
    return ship(sf, demo, qty, item="龙井", unit_price=D(price), **fields)


def _summary(sf, demo, period=THIS_MONTH):
    return vat_summary_for(sf, demo.org_id, period)


def vat_summary_for(sf, org_id, period):
    with sf() as s:
        return vat_summary(s, Actor.system_actor(org_id), period)


def _lines(sf, document_id):
    with sf() as s:
        return [(ln.amount, ln.tax_rate, ln.tax_amount) for ln in s.scalars(
            select(DocumentLine).where(DocumentLine.document_id == document_id).order_by(DocumentLine.line_no))]


# --- the rate -------------------------------------------------------------------------------------


def test_precedence_line_over_party_over_item_over_org_default():
    settings_ = {"vat_rate": "0.06"}
    assert resolve_rate(D("0.03"), D("0.09"), PartyKind.SUPPLIER, D("0.13"), settings_) == D("0.03")
    assert resolve_rate(None, D("0.09"), PartyKind.SUPPLIER, D("0.13"), settings_) == D("0.09")
    assert resolve_rate(None, None, PartyKind.SUPPLIER, D("0.13"), settings_) == D("0.13")
    assert resolve_rate(None, None, PartyKind.CUSTOMER, None, settings_) == D("0.06")
    assert resolve_rate(None, None, None, None, {}) == D(0)  # nothing set: no tax, as before
    # A farmer selling own produce is exempt whatever the item's rate; a bad org setting invents no tax.
    assert resolve_rate(None, None, PartyKind.FARMER, D("0.09"), settings_) == D(0)
    assert resolve_rate(None, None, None, None, {"vat_rate": "13%"}) == D(0)
    assert resolve_rate(D(0), D("0.09"), PartyKind.SUPPLIER, D("0.13"), {}) == D(0)  # an explicit 0 is a rate


@pytest.mark.parametrize("bad", [D(1), D("-0.01"), D("0.12345"), D("NaN"), D("Infinity"), "abc", True, 0.13])
def test_absurd_rates_are_refused(bad):
    with pytest.raises(ValidationError):
        check_rate(bad)


def test_tax_is_rounded_half_up_to_the_fen():
    assert line_tax(D("0.50"), D("0.13")) == D("0.07")  # 0.065: banker's rounding would give 0.06
    assert line_tax(D("12.50"), D("0.09")) == D("1.13")  # 1.125
    assert line_tax(D("33.33"), D("0.03")) == D("1.00")  # 0.9999


def test_rates_apply_in_order_on_real_documents(session_factory, demo, actors):
    sf, finance = session_factory, actors["吴会计"]
    _rate(sf, finance, "0.13", item=demo.items["龙井"])
    bought = _buy_jars(sf, demo)  # item's 13 %
    assert (bought.amount, bought.tax, bought.total) == (D("200.00"), D("26.00"), D("226.00"))
    _rate(sf, finance, "0.03", party=demo.parties["包装厂"])  # a 小规模纳税人 supplier
    small = _buy_jars(sf, demo)
    assert small.tax == D("6.00")
    explicit = _buy_jars(sf, demo, tax_rate=D("0.09"))
    assert explicit.tax == D("18.00")
    sold = _sell_jars(sf, demo, 2, "150")  # the customer has none: the item's
    assert (sold.revenue, sold.tax, sold.total) == (D("300.00"), D("39.00"), D("339.00"))
    with sf.begin() as s:  # the org's default applies once neither party nor item has one
        s.get_one(Org, demo.org_id).settings = {"vat_rate": "0.06"}
    _rate(sf, finance, None, item=demo.items["龙井"])
    assert _sell_jars(sf, demo, 1, "100").tax == D("6.00")
    assert [_lines(sf, d.document_id)[0][1] for d in (bought, small, explicit, sold)] == [
        D("0.13"), D("0.03"), D("0.09"), D("0.13")]
    assert_books_ok(sf, demo.org_id)


def test_a_farmers_delivery_is_exempt_and_cannot_be_taxed(session_factory, demo, actors):
    sf = session_factory
    _rate(sf, actors["吴会计"], "0.09", item=demo.items["茶青"])
    delivery = receive(sf, demo, 10)  # 王阿姨, 一级 at 80
    assert (delivery.tax, delivery.total) == (D(0), D("800.00"))
    assert _lines(sf, delivery.document_id) == [(D("800.00"), D(0), D(0))]
    before = row_counts(sf, demo.org_id)
    with pytest.raises(ValidationError):
        receive(sf, demo, 10, tax_rate=D("0.09"))
    with pytest.raises(ValidationError):
        _rate(sf, actors["吴会计"], "0.03", party=demo.parties["王阿姨"])
    assert row_counts(sf, demo.org_id) == before


def test_masterdata_takes_a_checked_rate_and_changing_it_is_audited_and_needs_the_mapping_permission(
        session_factory, demo, actors):
    sf = session_factory
    item_id = run(sf, create_item, actors["赵经理"], CreateItem("LJ50", "龙井 50g", "罐", vat_rate=D("0.13"),
                                                                   dimension=Dimension.COUNT))
    party_id = run(sf, create_party, actors["赵经理"], CreateParty("S009", "小包装厂", PartyKind.SUPPLIER,
                                                                 vat_rate=D("0.03")))
    with pytest.raises(ValidationError):
        run(sf, create_item, actors["赵经理"], CreateItem("LJ51", "龙井 51g", "罐", vat_rate=D("0.13001"),
                                                   dimension=Dimension.COUNT))
    with pytest.raises(ValidationError):
        run(sf, create_party, actors["赵经理"], CreateParty("S010", "错", PartyKind.SUPPLIER, vat_rate=D(1)))
    with pytest.raises(PermissionDenied):  # the manager may set prices, not how vouchers are booked
        _rate(sf, actors["赵经理"], "0.09", item=item_id)
    with pytest.raises(ValidationError):
        run(sf, set_vat_rate, actors["吴会计"], SetVatRate(D("0.09")))  # neither item nor party
    changed = _rate(sf, actors["吴会计"], "0.09", item=item_id)
    assert (changed.previous, changed.rate) == (D("0.1300"), D("0.0900"))
    _rate(sf, actors["吴会计"], None, party=party_id)
    with sf() as s:
        audits = s.execute(select(AuditEntry.action, AuditEntry.before, AuditEntry.after).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.action.like("%.vat_rate")).order_by(AuditEntry.id)).all()
    assert [(a, b["vat_rate"], c["vat_rate"]) for a, b, c in audits] == [
        ("item.vat_rate", "0.1300", "0.0900"), ("party.vat_rate", "0.0300", None)]


def test_another_orgs_item_or_party_is_not_found(session_factory, demo, actors):
    from models.demo import seed_demo

    other = run(session_factory, seed_demo, "vat-other")
    for target in ({"item": other.items["龙井"]}, {"party": other.parties["包装厂"]}):
        with pytest.raises(NotFound):
            _rate(session_factory, actors["吴会计"], "0.13", **target)


# --- the books ------------------------------------------------------------------------------------


def test_a_shipment_at_13_percent_credits_output_vat_and_books_revenue_without_tax(session_factory, demo, actors):
    sf = session_factory
    _buy_jars(sf, demo, tax_rate=D("0.13"))
    sold = _sell_jars(sf, demo, 3, "99.99", tax_rate=D("0.13"))  # 299.97 × 0.13 = 38.9961
    assert (sold.revenue, sold.tax, sold.total) == (D("299.97"), D("39.00"), D("338.97"))
    lines = voucher_lines(sf, sold.document_id)
    assert ("222102", D(0), D("39.00")) in lines and ("6001", D(0), D("299.97")) in lines
    assert ("1122", D("338.97"), D(0)) in lines and not any(code == "2221" for code, *_ in lines)


def test_a_multi_lot_shipment_taxes_each_line_and_the_lines_add_up(session_factory, demo, actors):
    sf = session_factory
    _buy_jars(sf, demo, 1, lot_code="A")
    _buy_jars(sf, demo, 1, lot_code="B")
    _buy_jars(sf, demo, 1, lot_code="C")
    sold = _sell_jars(sf, demo, 3, "0.55", tax_rate=D("0.13"))  # 1.65 revenue, lines 0.55 each
    lines = _lines(sf, sold.document_id)
    assert len(lines) == 3 and all(rate == D("0.13") for _, rate, _ in lines)
    assert sum(a for a, _, _ in lines) == sold.revenue == D("1.65")
    assert [t for _, _, t in lines] == [D("0.07")] * 3  # 0.0715 each, half-up per line
    assert sold.tax == D("0.21")
    credits = sum(c for code, _, c in voucher_lines(sf, sold.document_id) if code == "222102")
    assert credits == sold.tax


def test_invoice_numbers_are_kept_when_posting_and_set_later_audited(session_factory, demo, actors):
    sf = session_factory
    bought = _buy_jars(sf, demo, invoice_number="12345678", tax_rate=D("0.13"))
    sold = _sell_jars(sf, demo)
    with pytest.raises(ValidationError):
        _sell_jars(sf, demo, invoice_number="发票一号")
    done = run(sf, set_invoice_number, actors["吴会计"], SetInvoiceNumber(sold.document_id, " 24330000000012345678 "))
    assert (done.previous, done.invoice_number) == (None, "24330000000012345678")
    with pytest.raises(PermissionDenied):
        run(sf, set_invoice_number, actors["老孙"], SetInvoiceNumber(sold.document_id, "1"))
    with pytest.raises(ValidationError):
        run(sf, set_invoice_number, actors["吴会计"], SetInvoiceNumber(sold.document_id, "9" * 33))
    advance = run(sf, receive_money, actors["吴会计"], RecordMoney(demo.parties["杭州茶城"], D(5), matches=()))
    with pytest.raises(InvalidState):  # a 收款单 carries no VAT
        run(sf, set_invoice_number, actors["吴会计"], SetInvoiceNumber(advance.document_id, "1"))
    with sf() as s:
        assert s.get_one(Document, bought.document_id).invoice_number == "12345678"
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "document.invoice_number",
                                                   AuditEntry.entity_id == str(sold.document_id))).one()
    assert audit.before == {"invoice_number": None} and audit.after["invoice_number"] == "24330000000012345678"
    summary = _summary(sf, demo)
    assert {d.number: d.invoice_number for d in summary.documents} == {
        bought.number: "12345678", sold.number: "24330000000012345678"}


# --- the summary ----------------------------------------------------------------------------------


def test_the_summary_by_rate_with_tax_payable_and_documents(session_factory, demo, actors):
    sf = session_factory
    _buy_jars(sf, demo, 10, "20", tax_rate=D("0.13"))  # 进项 26
    _buy_jars(sf, demo, 10, "10", tax_rate=D("0.03"))  # 进项 3
    receive(sf, demo, 5)  # a farmer's tea leaves: 0 %, 400
    _sell_jars(sf, demo, 2, "150", tax_rate=D("0.13"))  # 销项 39
    s = _summary(sf, demo)
    assert [(r.rate, r.sales, r.output_tax, r.purchases, r.input_tax) for r in s.rates] == [
        (D("0.13"), D("300.00"), D("39.00"), D("200.00"), D("26.00")),
        (D("0.03"), D(0), D(0), D("100.00"), D("3.00")),
        (D(0), D(0), D(0), D("400.00"), D(0))]
    assert (s.output_tax, s.input_tax, s.tax_payable, s.balanced) == (D("39.00"), D("29.00"), D("10.00"), True)
    assert (s.output_tax_booked, s.input_tax_booked) == (s.output_tax, s.input_tax)
    assert len(s.documents) == 4 and {d.kind for d in s.documents} == {"receipt", "shipment"}
    assert sorted((d.amount, d.rate, d.tax) for d in s.documents) == [
        (D("100.00"), D("0.03"), D("3.00")), (D("200.00"), D("0.13"), D("26.00")),
        (D("300.00"), D("0.13"), D("39.00")), (D("400.00"), D(0), D(0))]
    # A month with nothing in it, and one that is not a month.
    empty = vat_summary_for(sf, demo.org_id, period_of(utcnow() - timedelta(days=45)))
    assert (empty.rates, empty.tax_payable, empty.documents, empty.balanced) == ([], D(0), [], True)
    for bad in ("2026-12", "202613", "", "20261", "190001"):
        with pytest.raises(ValidationError):
            vat_summary_for(sf, demo.org_id, bad)


def test_more_input_than_output_is_carried_forward(session_factory, demo, actors):
    sf = session_factory
    _buy_jars(sf, demo, 10, "20", tax_rate=D("0.13"))
    assert _summary(sf, demo).tax_payable == D("-26.00")  # 留抵


def test_a_reversal_nets_the_summary_to_zero(session_factory, demo, actors):
    sf = session_factory
    bought = _buy_jars(sf, demo, 10, "20", tax_rate=D("0.13"))
    sold = _sell_jars(sf, demo, 2, "150", tax_rate=D("0.13"))
    for doc in (sold, bought):
        run(sf, reverse_document, actors["吴会计"], ReverseDocument(doc.document_id, "开错了"))
    s = _summary(sf, demo)
    assert (s.sales, s.output_tax, s.purchases, s.input_tax) == (D(0), D(0), D(0), D(0))
    assert (s.output_tax_booked, s.input_tax_booked, s.tax_payable, s.balanced) == (D(0), D(0), D(0), True)
    assert len(s.documents) == 4 and sum(d.tax for d in s.documents) == 0
    assert_books_ok(sf, demo.org_id)


def test_the_summary_needs_the_finance_view(session_factory, demo, actors):
    with session_factory() as s, pytest.raises(PermissionDenied):
        vat_summary(s, actors["老孙"], THIS_MONTH)


# --- properties -----------------------------------------------------------------------------------

_RATES = st.sampled_from([None, D(0), D("0.03"), D("0.09"), D("0.13")])
_step = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 5), st.decimals("0.01", "99.99", places=2), _RATES),
    st.tuples(st.just("sell"), st.integers(1, 3), st.decimals("0.01", "999.99", places=2), _RATES),
    st.tuples(st.just("reverse"), st.integers(0, 20), st.just(D(0)), st.just(None)),
)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(item_rate=_RATES, steps=st.lists(_step, min_size=1, max_size=7))
def test_line_taxes_document_tax_and_vouchers_always_agree(session_factory, item_rate, steps):
    """Whatever is bought, sold and reversed at whatever rates: Σ line taxes = document tax = the
    voucher's 222101/222102 line, and the summary's payable = Σ222102 credits − Σ222101 debits."""
    from models.demo import seed_demo

    sf = session_factory
    demo = run(sf, seed_demo, f"v-{abs(hash((item_rate, tuple(steps)))) % 10**12}")
    system = Actor.system_actor(demo.org_id)
    if item_rate is not None:
        run(sf, set_vat_rate, system, SetVatRate(item_rate, item_id=demo.items["龙井"]))
    _buy_jars(sf, demo, 30, "1")
    posted = []
    for kind, qty, price, rate in steps:
        if kind == "buy":
            posted.append(_buy_jars(sf, demo, qty, str(price), tax_rate=rate).document_id)
        elif kind == "sell":
            posted.append(_sell_jars(sf, demo, qty, str(price), tax_rate=rate).document_id)
        elif posted:
            target = posted.pop(qty % len(posted))
            with contextlib.suppress(InsufficientStock):  # a receipt whose goods went out: not reversible
                run(sf, reverse_document, system, ReverseDocument(target, "改"))
    with sf() as s:
        docs = s.scalars(select(Document).where(Document.org_id == demo.org_id,
                                                Document.kind.in_(["receipt", "shipment"]))).all()
        for doc in docs:
            assert sum((ln.tax_amount for ln in doc.lines), D(0)) == doc.tax_amount, doc.number
            booked = s.scalar(select(type_coerce(func.sum(VoucherLine.debit), Money())
                                     + type_coerce(func.sum(VoucherLine.credit), Money()))
                              .join(Voucher, Voucher.id == VoucherLine.voucher_id)
                              .where(Voucher.document_id == doc.id,
                                     VoucherLine.account_code.in_(["222101", "222102"])))
            assert (booked or D(0)) == doc.tax_amount, doc.number
        net = {code: s.scalar(select(
            type_coerce(func.sum(VoucherLine.credit), Money()) - type_coerce(func.sum(VoucherLine.debit), Money()))
            .where(VoucherLine.org_id == demo.org_id, VoucherLine.account_code == code)) or D(0)
            for code in ("222102", "222101")}
        summary = vat_summary(s, system, THIS_MONTH)
    assert summary.balanced
    assert summary.tax_payable == net["222102"] - (-net["222101"])  # Σ222102 credits − Σ222101 debits (net)
    taxes = {kind: sum((d.tax for d in summary.documents if d.kind == kind), D(0)) for kind in ("receipt", "shipment")}
    assert (taxes["shipment"], taxes["receipt"]) == (summary.output_tax, summary.input_tax)
    assert summary.output_tax - summary.input_tax == summary.tax_payable
    assert_books_ok(sf, demo.org_id)
