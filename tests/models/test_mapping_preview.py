"""The preview of a mapping-rule change says exactly what the change then does, and writes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from models.errors import NotFound, ValidationError
from models.finance import Voucher, VoucherLine
from models.operations.mapping import ChangeMappingRule, RuleLine, change_mapping_rule
from models.queries.mapping_rules import mapping_rule, mapping_rules, preview_mapping_change
from models.uow import run
from tests.console.money_fixtures import deliveries, farmer_rule_id, other_org
from tests.security.conftest import rows

RAW = (RuleLine("1403", "debit", "goods", "原材料"), RuleLine("2202", "credit", "goods", "应付农户款"))
SINCE = date(2000, 1, 1)


def test_preview_matches_the_change(session_factory, engine, demo, actors):
    deliveries(session_factory, demo, actors, 2)
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    before = rows(engine)
    with session_factory() as s:
        preview = preview_mapping_change(s, demo.org_id, rule_id, RAW, SINCE)
    assert rows(engine) == before
    assert preview.count == 2 and not preview.problem
    change = run(session_factory, change_mapping_rule, actors["吴会计"],
                 ChangeMappingRule(rule_id, RAW, repost_from=SINCE))
    assert change.reposted == preview.count
    with session_factory() as s:
        for number, shown in zip(change.new_numbers, preview.vouchers, strict=True):
            voucher = s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id, Voucher.number == number)).one()
            lines = s.execute(select(VoucherLine.account_code, VoucherLine.debit, VoucherLine.credit)
                              .where(VoucherLine.voucher_id == voucher.id).order_by(VoucherLine.line_no)).all()
            assert [(ln.account, ln.debit, ln.credit) for ln in shown.after] == [tuple(r) for r in lines]


def test_preview_refuses_what_the_change_refuses(session_factory, demo):
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    with session_factory() as s, pytest.raises(ValidationError):
        preview_mapping_change(s, demo.org_id, rule_id, RAW[:1], SINCE)


def test_rules_of_another_org_are_not_found_nor_listed(session_factory, demo):
    other, _people = other_org(session_factory)
    foreign = farmer_rule_id(session_factory, other.org_id)
    with session_factory() as s:
        assert foreign not in [r.rule_id for r in mapping_rules(s, demo.org_id)]
        with pytest.raises(NotFound):
            mapping_rule(s, demo.org_id, foreign)
        with pytest.raises(NotFound):
            preview_mapping_change(s, demo.org_id, foreign, RAW, SINCE)
