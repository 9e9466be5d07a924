"""本月毛利 / 毛利 <单号> in chat: the same queries as /api/v1/margin, for finance only."""

from __future__ import annotations

from decimal import Decimal

from bot.intents import MarginQuery, route
from models.documents import DocKind
from models.operations import CreateOrder, OrderLineIn, create_order
from models.operations.charges import AddCharge, add_charge
from models.org import IdentityProvider
from models.uow import run
from tests.bot.conftest import AES_KEY, WeComUser, bind
from tests.bot.test_dialogs import transcript
from tests.factories import receive, ship


def test_margin_commands_are_recognised():
    assert route("本月毛利") == MarginQuery("")
    assert route("毛利") == MarginQuery("")
    assert route("毛利 xs-zc-20261205-0001") == MarginQuery("XS-ZC-20261205-0001")
    assert route("毛利：CK-ZC-20261205-0002") == MarginQuery("CK-ZC-20261205-0002")


def test_the_accountant_asks_for_the_months_margin_and_an_orders(app, wecom, session_factory, demo, actors):
    receive(session_factory, demo, 20)
    order = run(session_factory, create_order, actors["钱总监"], CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
        (OrderLineIn(demo.items["茶青"], Decimal(5), unit_price=Decimal(100)),)))
    shipped = ship(session_factory, demo, 2, unit_price=None, sales_order_id=order.document_id)
    run(session_factory, add_charge, actors["吴会计"], AddCharge(order.document_id, "freight", Decimal(10)))
    accountant = WeComUser(app.test_client(), bind(session_factory, demo, "吴会计", IdentityProvider.WECOM_USERID),
                           "wecom-token", AES_KEY, "ww-test-corp")
    transcript(accountant, [
        ("本月毛利", "本月毛利 30.00 元（15.0%），收入 200.00", "· 杭州茶城 30.00（15.0%）"),
        (f"毛利 {order.number}", f"{order.number} 杭州茶城", "收入 200.00，成本 160.00，费用 10.00",
         "毛利 30.00 元（15.0%）", f"· {shipped.number} 毛利 30.00"),
        ("毛利 XS-ZC-20990101-0001", "没找到单据"),
    ])
    transcript(wecom, [("本月毛利", "没有权限：查看财务")])
