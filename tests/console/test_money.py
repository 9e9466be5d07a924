"""The 资金 (money) section: each page shows the demo org's facts (and nothing of another org), each
action changes the books through its operation."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from models.documents import DocKind
from models.finance import FarmerSettlement, MappingRule, SettlementStatus, Voucher
from models.queries.farmer_settlements import farmer_due
from tests.console.conftest import post
from tests.console.money_fixtures import (
    deliveries,
    documents,
    farmer_rule_id,
    other_org,
    request_id_of,
    settlement_ids,
)


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_the_landing_page_is_the_aging_of_the_org_and_of_no_other(console_as, demo, actors, session_factory):
    deliveries(session_factory, demo, actors, 1)
    other, _people = other_org(session_factory)
    page = _text(console_as("吴会计").get("/console/money?side=payable"))
    assert "应付账龄" in page and "王阿姨" in page and "与科目余额一致" in page
    assert f"/console/money/parties/{demo.parties['王阿姨']}?side=payable" in page
    assert f"/console/money/parties/{other.parties['王阿姨']}" not in page
    assert "prepayment_due" not in page and "payable</" not in page  # Chinese on screen


def test_junk_filters_are_a_chinese_error_not_a_500(console_as):
    client = console_as("吴会计")
    for path in ("/console/money?as_of=2026-13-45", "/console/money?side=both", "/console/money/reports?period=1",
                 "/console/money/vouchers?date_from=yesterday", "/console/money/cash?hours=9999",
                 "/console/money/margin?group_by=x"):
        response = client.get(path)
        assert response.status_code == 422, path
        assert "VALIDATION" in _text(response) or "错误代码" in _text(response)


def test_settle_the_ticked_deliveries_only_and_show_the_settlement(console_as, demo, actors, session_factory):
    first, second = deliveries(session_factory, demo, actors, 2)
    ids = settlement_ids(session_factory, demo.org_id)
    client = console_as("吴会计")
    listing = _text(client.get("/console/money/settlements"))
    assert "王阿姨" in listing and "2 笔" in listing
    path = f"/console/money/settlements/farmers/{demo.parties['王阿姨']}"
    page = _text(client.get(path))
    assert first.number in page and second.number in page and "预付款" in page
    response = post(client, path, {"request_id": request_id_of(page), "settlement_id": str(ids[first.document_id])},
                    page=path)
    assert response.status_code == 303
    shown = _text(client.get(response.headers["Location"]))
    with session_factory() as s:
        rows = {r.receipt_id: r for r in s.scalars(select(FarmerSettlement).where(
            FarmerSettlement.org_id == demo.org_id))}
    assert rows[first.document_id].status == SettlementStatus.PREPAID
    assert rows[second.document_id].status == SettlementStatus.PREPAYMENT_DUE  # not ticked: not paid
    assert "结算单 FK-" in shown and first.number in shown and second.number not in shown
    assert f"{rows[first.document_id].prepayment:,.2f}" in shown


def test_a_double_submit_of_a_settlement_pays_once(console_as, demo, actors, session_factory):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    path = f"/console/money/settlements/farmers/{demo.parties['王阿姨']}"
    page = _text(client.get(path))
    form = {"request_id": request_id_of(page),
            "settlement_id": [str(i) for i in settlement_ids(session_factory, demo.org_id).values()]}
    first = post(client, path, form, page=path)
    again = post(client, path, form, page=path)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]  # the first answer, replayed
    assert documents(session_factory, demo.org_id, DocKind.SETTLEMENT) == 1


def test_the_farmer_page_lists_what_the_operation_would_pay(session_factory, demo, actors):
    deliveries(session_factory, demo, actors, 2)
    with session_factory() as s:
        due = farmer_due(s, demo.org_id, demo.parties["王阿姨"])
    assert [d.stage for d in due.deliveries] == ["prepayment", "prepayment"]
    assert due.amount == sum((d.amount for d in due.deliveries), Decimal(0)) > 0


def test_edit_a_mapping_rule_previews_then_confirms(console_as, demo, actors, session_factory):
    (receipt,) = deliveries(session_factory, demo, actors, 1)
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    client = console_as("吴会计")
    rules = _text(client.get("/console/money/rules"))
    assert "农户交售入库" in rules and "入库" in rules
    path = f"/console/money/rules/{rule_id}"
    form = {"account-0": "1403", "side-0": "debit", "amount-0": "goods", "memo-0": "原材料",
            "account-1": "2202", "side-1": "credit", "amount-1": "goods", "memo-1": "应付农户款",
            "reason": "茶青记原材料"}
    with session_factory() as s:
        before = s.scalars(select(Voucher.id).where(Voucher.org_id == demo.org_id)).all()
    preview = post(client, f"{path}/preview", form, page=path)
    text = _text(preview)
    assert preview.status_code == 200 and "将冲销并重记 1 张凭证" in text and "1403" in text and "确认修改" in text
    with session_factory() as s:  # the preview wrote nothing
        assert s.scalars(select(Voucher.id).where(Voucher.org_id == demo.org_id)).all() == before
        assert s.get_one(MappingRule, rule_id).active
    done = post(client, path, {**form, "request_id": request_id_of(text), "repost_from": "2000-01-01"}, page=path)
    assert done.status_code == 303
    with session_factory() as s:
        new = s.scalars(select(MappingRule).where(MappingRule.family_id == rule_id, MappingRule.active.is_(True))).one()
        assert new.version == 2 and new.lines[0]["account"] == "1403"
        assert not s.get_one(MappingRule, rule_id).active
    assert "第 2 版" in _text(client.get(done.headers["Location"]))
    assert receipt.number


def test_a_bad_rule_line_is_shown_again_with_the_reason_and_writes_nothing(console_as, demo, session_factory):
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    client = console_as("吴会计")
    path = f"/console/money/rules/{rule_id}"
    response = post(client, f"{path}/preview", {"account-0": "1403", "side-0": "debit", "amount-0": "goods"},
                    page=path)  # one line: does not balance
    assert response.status_code == 422 and "借贷不平" in _text(response)
    response = post(client, f"{path}/preview", {"account-0": "9999", "side-0": "debit", "amount-0": "goods"},
                    page=path)
    assert response.status_code == 422 and "无效" in _text(response)
    with session_factory() as s:
        assert s.get_one(MappingRule, rule_id).active


def test_reports_balance_and_download(console_as, demo, actors, session_factory):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    for kind, title in (("trial", "科目余额表"), ("balance", "资产负债表"), ("income", "利润表")):
        page = _text(client.get(f"/console/money/reports?report={kind}"))
        assert title in page and "tag ok" in page, kind
        xlsx = client.get(f"/console/money/reports/{kind}.xlsx")
        assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
        pdf = client.get(f"/console/money/reports/{kind}.pdf")
        assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    assert client.get("/console/money/reports/other.pdf").status_code == 404


def test_close_and_reopen_a_period(console_as, demo, actors, session_factory):
    deliveries(session_factory, demo, actors, 1)
    finance, director = console_as("吴会计"), console_as("钱总监")
    page = _text(finance.get("/console/money/periods"))
    assert "未结账" in page and "反结账" not in page.split("<tbody>")[1]  # finance may close, not reopen
    with session_factory() as s:
        period = s.scalars(select(Voucher.period).where(Voucher.org_id == demo.org_id)).first()
    response = post(finance, "/console/money/periods/close", {"period": period, "request_id": request_id_of(page)},
                    page="/console/money/periods")
    assert response.status_code == 303
    assert "已结账" in _text(finance.get("/console/money/periods"))
    page = _text(director.get("/console/money/periods"))
    response = post(director, "/console/money/periods/reopen",
                    {"period": period, "reason": "补录一张收货", "request_id": request_id_of(page)},
                    page="/console/money/periods")
    assert response.status_code == 303
    page = _text(director.get("/console/money/periods"))
    assert "补录一张收货" in page


def test_a_refused_close_says_why_in_chinese(console_as, demo):
    client = console_as("吴会计")
    page = _text(client.get("/console/money/periods"))
    response = post(client, "/console/money/periods/close", {"period": "209912", "request_id": request_id_of(page)},
                    page="/console/money/periods")
    assert response.status_code == 303
    assert "还没到，不能结账" in _text(client.get("/console/money/periods"))


def test_vouchers_list_open_and_print(console_as, demo, actors, session_factory):
    (receipt,) = deliveries(session_factory, demo, actors, 1)
    other, _people = other_org(session_factory)
    with session_factory() as s:
        voucher = s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id)).first()
        foreign = s.scalars(select(Voucher).where(Voucher.org_id == other.org_id)).first()
    client = console_as("吴会计")
    listing = _text(client.get("/console/money/vouchers"))
    assert voucher.number in listing and receipt.number in listing
    assert f"/console/money/vouchers/{foreign.id}\"" not in listing
    detail = _text(client.get(f"/console/money/vouchers/{voucher.id}"))
    assert "记账凭证" in detail and "库存商品" in detail
    pdf = client.get(f"/console/money/vouchers/{voucher.id}.pdf")
    assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"


def test_pay_a_farmer_through_the_party_page_and_see_the_statement(console_as, demo, actors, session_factory):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    wang = demo.parties["王阿姨"]
    path = f"/console/money/parties/{wang}?side=payable"
    page = _text(client.get(path))
    assert "未核销明细" in page and "RK-" in page
    response = post(client, f"/console/money/parties/{wang}/money",
                    {"side": "payable", "amount": "100.00", "via": "bank", "request_id": request_id_of(page)},
                    page=path)
    assert response.status_code == 303
    assert documents(session_factory, demo.org_id, DocKind.MONEY_OUT) == 1
    statement = _text(client.get(f"/console/money/parties/{wang}/statement?side=payable"))
    assert "对账单" in statement and "¥100.00" in statement
    assert client.get(f"/console/money/parties/{wang}/statement.pdf?side=payable").data[:4] == b"%PDF"
    assert client.get(f"/console/money/parties/{wang}/statement.xlsx?side=payable").data[:2] == b"PK"


def test_cash_and_margin_pages(console_as, demo, actors, session_factory):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    cash = _text(client.get("/console/money/cash"))
    assert 'data-chart="cash-chart"' in cash and '<script type="application/json" id="cash-chart">' in cash
    assert "农户货款" in cash and "echarts.min.js" in cash
    margin = _text(client.get("/console/money/margin"))
    assert "订单毛利" in margin
    missing = client.get("/console/money/margin/find?number=XS-NOPE")
    assert missing.status_code == 404
