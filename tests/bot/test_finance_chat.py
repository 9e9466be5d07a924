"""应收 / 应付 in chat: the same queries as the API's aging and open items, for finance only."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from bot.intents import PartyBalance, PartyStatement, route
from models.base import utcnow
from models.demo import seed_demo
from models.org import IdentityProvider
from models.queries.receivables import aging, party_open_items
from models.subledger import Side
from models.timeutil import local_date
from models.uow import run
from tests.bot.conftest import AES_KEY, WeComUser, bind
from tests.bot.test_dialogs import transcript
from tests.factories import receive, ship


def test_balance_commands_are_recognised():
    assert route("应收") == PartyBalance("receivable", "")
    assert route("应收账款 杭州茶城") == PartyBalance("receivable", "杭州茶城")
    assert route("应付 王阿姨") == PartyBalance("payable", "王阿姨")


def test_the_accountant_asks_who_owes_and_the_clerk_is_refused(app, wecom, session_factory, demo):
    receive(session_factory, demo, 20)
    ship(session_factory, demo, 2, unit_price=150, business_time=utcnow() - timedelta(days=10))
    receive(session_factory, demo, 10, site="SX", party="李大伯", grade="一级")
    accountant = WeComUser(app.test_client(), bind(session_factory, demo, "吴会计", IdentityProvider.WECOM_USERID),
                           "wecom-token", AES_KEY, "ww-test-corp")
    with session_factory() as s:  # what the API shows, the chat must show
        owed = aging(s, demo.org_id, Side.RECEIVABLE, local_date(utcnow())).total
        farmer = party_open_items(s, demo.org_id, demo.parties["李大伯"], Side.PAYABLE).open_charges
    assert owed == Decimal("300.00") and farmer > 0
    transcript(accountant, [
        ("应收", f"应收合计 {owed} 元", "杭州茶城 300.00，逾期 300.00"),
        ("应收 杭州茶城", "杭州茶城 应收 300.00 元", "CK-ZC-", "未收 300.00，逾期10天"),
        ("应付 李大伯", f"李大伯 应付 {farmer} 元", "RK-SX-", f"未付 {farmer}，"),
        ("应收 不存在的公司", "没找到往来单位"),
    ])
    transcript(wecom, [("应收", "没有权限：查看财务")])


def test_statement_commands_are_recognised():
    assert route("对账单 王阿姨 十一月") == PartyStatement("王阿姨 十一月")
    assert route("对账单") == PartyStatement("")


def test_the_accountant_asks_for_a_statement_of_account(app, wecom, session_factory, demo):
    """对账单 <party> [month]: the same query as the API's statement, for the month, phone-sized."""
    from models.queries.receivables import statement

    receive(session_factory, demo, 20)
    ship(session_factory, demo, 2, unit_price=150)
    receive(session_factory, demo, 10, site="SX", party="李大伯", grade="一级")
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")  # their 杭州茶城 owes them 500
    receive(session_factory, other, 10)
    ship(session_factory, other, 1, unit_price=500)
    accountant = WeComUser(app.test_client(), bind(session_factory, demo, "吴会计", IdentityProvider.WECOM_USERID),
                           "wecom-token", AES_KEY, "ww-test-corp")
    today = local_date(utcnow())
    with session_factory() as s:
        farmer = statement(s, demo.org_id, demo.parties["李大伯"], Side.PAYABLE, today.replace(day=1), today)
    assert farmer.closing > 0
    transcript(accountant, [
        ("对账单 杭州茶城", "杭州茶城 对账单", "（应收）", "期末 300.00", "+300.00"),
        ("对账单 李大伯 本月", "李大伯 对账单", "（应付）", f"期末 {farmer.closing}", "RK-SX-"),
        ("对账单 李大伯 十三月", "没看懂月份"),
        ("对账单 李大伯 209912", "2099年12月还没到"),
        ("对账单 不存在的公司", "没找到往来单位"),
        ("对账单", "请写明往来单位"),
    ])
    transcript(wecom, [("对账单 杭州茶城", "没有权限：查看财务")])
