"""利润表 / 资产负债表 in chat: the same queries as /api/v1/books, a few lines, finance only."""

from __future__ import annotations

from datetime import date

from bot.handlers import chat_period
from bot.intents import BooksReport, route
from models.base import utcnow
from models.org import IdentityProvider
from models.queries.statements import balance_sheet, income_statement
from models.timeutil import local_date, period_of
from tests.bot.conftest import AES_KEY, WeComUser, bind
from tests.bot.test_dialogs import transcript
from tests.factories import receive, ship


def test_report_commands_are_recognised():
    assert route("利润表 本月") == BooksReport("income", "本月")
    assert route("利润表") == BooksReport("income", "")
    assert route("资产负债表 十一月") == BooksReport("balance", "十一月")


def test_chat_periods():
    today = date(2026, 12, 5)
    assert [chat_period(t, today) for t in ("", "本月", "上月", "十一月", "11月", "十二月份", "202511", "一月")] == [
        "202612", "202612", "202611", "202611", "202611", "202612", "202511", "202601"]
    assert chat_period(date(2027, 1, 9).strftime("%m月"), date(2026, 12, 5)) == "202601"
    assert chat_period("十三月", today) is None and chat_period("明年", today) is None


def test_the_accountant_reads_the_month_and_a_clerk_is_refused(app, wecom, session_factory, demo):
    receive(session_factory, demo, 20)
    ship(session_factory, demo, 2, unit_price=150)
    accountant = WeComUser(app.test_client(), bind(session_factory, demo, "吴会计", IdentityProvider.WECOM_USERID),
                           "wecom-token", AES_KEY, "ww-test-corp")
    period = period_of(utcnow())
    with session_factory() as s:  # what the API shows, the chat must show
        income = income_statement(s, demo.org_id, period)
        sheet = balance_sheet(s, demo.org_id, period)
    assert income.net_profit != 0
    label = f"{local_date(utcnow()).year}年{local_date(utcnow()).month}月"
    transcript(accountant, [
        ("利润表 本月", f"利润表 {label}", "营业收入 300.00", f"净利润 {income.net_profit} 元"),
        ("资产负债表", f"资产负债表 {label}末", f"资产总计 {sheet.total_assets}", "借贷平衡"),
        ("利润表 明年", "没看懂期间"),
    ])
    clerk = WeComUser(app.test_client(), bind(session_factory, demo, "小周", IdentityProvider.WECOM_USERID),
                      "wecom-token", AES_KEY, "ww-test-corp")
    transcript(clerk, [("利润表", "没有权限：查看财务")])
