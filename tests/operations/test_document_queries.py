"""The documents use case's model side: price checks in the order and shipment operations, and the
list/detail queries' scoping (another organisation's document is not found, a farmer sees no list)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from models.demo import seed_demo
from models.documents import DocKind
from models.errors import NotFound, PermissionDenied, ValidationError
from models.operations.orders import CreateOrder, OrderLineIn, create_order
from models.operations.shipping import ShipGoods, ship_goods
from models.queries.document_detail import document_detail, photo_key
from models.queries.document_list import DocumentFilter, document_list
from models.uow import run
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import rows


@pytest.mark.parametrize("price", ["-1", "10000000.01", "1.0000001", "NaN", "Infinity"])
def test_an_order_with_an_absurd_price_is_refused_and_writes_nothing(session_factory, engine, demo, actors, price):
    before = rows(engine)
    with pytest.raises(ValidationError) as refused:
        run(session_factory, create_order, actors["赵经理"], CreateOrder(
            DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
            (OrderLineIn(demo.items["龙井"], Decimal(10), None, Decimal(price)),)))
    assert "单价" in refused.value.message
    assert rows(engine) == before


def test_a_shipment_with_an_absurd_price_is_refused(session_factory, engine, demo, actors):
    receive(session_factory, demo, actors, qty="10")
    before = rows(engine)
    with pytest.raises(ValidationError, match="单价过大"):
        run(session_factory, ship_goods, actors["赵经理"], ShipGoods(
            demo.sites["SX"], demo.items["茶青"], Decimal(1), unit_price=Decimal("1E+12")))
    assert rows(engine) == before


def test_queries_never_show_another_orgs_document(session_factory, demo, actors):
    receipt = receive(session_factory, demo, actors, qty="10")
    other = run(session_factory, seed_demo, f"q-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        from models.actor import load_actor
        stranger = load_actor(s, other.members["钱总监"])
        with pytest.raises(NotFound):
            document_detail(s, stranger, receipt.document_id)
        assert receipt.document_id not in [r.id for r in document_list(s, stranger, DocumentFilter()).rows]
        with pytest.raises(NotFound):
            photo_key(s, stranger, 1, thumb=True)
        with pytest.raises(PermissionDenied):
            document_list(s, actors["王阿姨"], DocumentFilter())
        with pytest.raises(NotFound):
            document_detail(s, actors["王阿姨"], receipt.document_id)
