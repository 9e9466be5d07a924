"""现金 in chat: the same query as /api/v1/finance/cash-forecast, phone-sized, for finance only."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from bot.intents import CashView, route
from models.actor import Actor
from models.base import utcnow
from models.operations.cash import SetCashThreshold, set_cash_threshold
from models.operations.money import RecordMoney, SetCreditTerms, receive_money, set_credit_terms
from models.org import IdentityProvider
from models.queries.cash_forecast import cash_forecast
from models.timeutil import SHANGHAI, local_date
from models.uow import run
from tests.bot.conftest import AES_KEY, WeComUser, bind
from tests.bot.test_dialogs import transcript
from tests.factories import receive, ship


def test_cash_commands_are_recognised():
    assert route("现金") == CashView(72)
    assert route("现金 三天") == route("三天现金") == route("现金 3天") == route("现金预测 72小时") == CashView(72)
    assert route("现金 两天") == CashView(48) and route("现金 12小时") == CashView(12)
    assert route("现金 三十天") == CashView(168)  # a week at most, as the API
    assert route("现金 十十天") != CashView(72) and route("应收") != CashView(72)


def test_the_accountant_asks_for_three_days_of_cash_and_the_clerk_is_refused(app, wecom, session_factory, demo):
    system = Actor.system_actor(demo.org_id)
    yesterday = datetime.combine(local_date(utcnow()) - timedelta(days=1), time(12), SHANGHAI)
    run(session_factory, set_credit_terms, system, SetCreditTerms(demo.parties["杭州茶城"], 2))
    run(session_factory, receive_money, system,
        RecordMoney(demo.parties["杭州茶城"], Decimal(1000), via="cash", matches=()))
    receive(session_factory, demo, 20, party=None)
    ship(session_factory, demo, 1, unit_price=300, business_time=yesterday)  # due tomorrow 10:00
    ship(session_factory, demo, 1, unit_price=70, business_time=yesterday - timedelta(days=9))  # late
    receive(session_factory, demo, 10, business_time=yesterday)  # 王阿姨's prepayment 560 owed now
    run(session_factory, set_cash_threshold, system, SetCashThreshold(Decimal(500)))
    with session_factory() as s:  # what the API shows, the chat must show
        f = cash_forecast(s, demo.org_id, utcnow(), 72)
    assert (f.opening, f.lowest, f.closing) == (Decimal("1000.00"), Decimal("440.00"), Decimal("740.00"))
    accountant = WeComUser(app.test_client(), bind(session_factory, demo, "吴会计", IdentityProvider.WECOM_USERID),
                           "wecom-token", AES_KEY, "ww-test-corp")
    [reply] = transcript(accountant, [
        ("现金 三天", "现金+银行 现在 1000.00 元（现金 1000.00，银行 0.00）", "最低 440.00 元",
         "3天后 740.00 元（流入 300.00，流出 560.00）", "起低于下限 500.00 元", "流入前三：", "杭州茶城",
         "流出前三：", "王阿姨 RK-", "560.00（已到期）", "已逾期应收 70.00 元（1 家客户，未计入）"),
    ])
    assert len(reply.splitlines()) <= 12  # fits a phone
    transcript(accountant, [("现金 6小时", "6小时后 440.00 元")])
    transcript(wecom, [("现金", "没有权限：查看财务")])
