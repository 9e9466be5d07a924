"""Edge nodes (issue 14): every human number a node issues carries its code, from counters of its
own, so numbers never collide when the ledgers merge; its stock moves carry its code as origin."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from app.cli import migrate
from app.settings import Settings
from models import node
from models.actor import load_actor
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.documents import Document, NumberSequence
from models.errors import ValidationError
from models.finance import Voucher
from models.nodes import NodeState
from models.operations import (
    CountStock,
    DecideTransfer,
    ReceiveGoods,
    RecordQc,
    RequestTransfer,
    SettleFarmer,
    ShipGoods,
    TransferLineIn,
    TransferRef,
    count_stock,
    decide_transfer,
    dispatch_transfer,
    receive_goods,
    receive_transfer,
    record_qc,
    request_transfer,
    settle_farmer,
    ship_goods,
)
from models.operations.closing import ClosePeriod, close_period
from models.stock import StockMove
from models.timeutil import SHANGHAI
from models.uow import run
from tests.factories import receive, ship


def _lifecycle(session_factory, demo, actors) -> list[int]:
    """A receipt, a transfer, a shipment, a count and a farmer settlement; their document ids."""
    sx, zc = demo.sites["SX"], demo.sites["ZC"]
    leaf = demo.items["茶青"]
    receipt = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=sx, item_id=leaf, quantity=D("23.5"), unit="斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    transfer = run(session_factory, request_transfer, actors["小周"],
                   RequestTransfer(sx, zc, (TransferLineIn(leaf, D(5)),), urgent=True))
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(transfer.document_id, True))
    run(session_factory, decide_transfer, actors["钱总监"], DecideTransfer(transfer.document_id, True))
    run(session_factory, dispatch_transfer, actors["小周"], TransferRef(transfer.document_id))
    run(session_factory, receive_transfer, actors["老孙"], TransferRef(transfer.document_id))
    shipment = run(session_factory, ship_goods, actors["老孙"], ShipGoods(
        site_id=zc, item_id=leaf, quantity=D(2), unit_price=D(100), party_id=demo.parties["杭州茶城"]))
    count = run(session_factory, count_stock, actors["小周"], CountStock(sx, leaf, D(13), "斤"))
    run(session_factory, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, True))
    paid = run(session_factory, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))
    return [receipt.document_id, transfer.document_id, shipment.document_id, count.document_id, paid.document_id]


def _numbers(session_factory, org_id: int) -> tuple[dict[int, str], list[str], set[str], set[str]]:
    """(document id → number, voucher numbers, origin nodes of the moves, counter series)."""
    with session_factory() as session:
        docs = dict(session.execute(select(Document.id, Document.number).where(Document.org_id == org_id)).all())
        vouchers = list(session.scalars(select(Voucher.number).where(Voucher.org_id == org_id)))
        origins = set(session.scalars(select(StockMove.origin_node).where(StockMove.org_id == org_id)))
        series = set(session.scalars(select(NumberSequence.series).where(NumberSequence.org_id == org_id)))
    return docs, vouchers, origins, series


def test_a_node_numbers_every_document_and_voucher_with_its_code(session_factory, demo, actors, node_synced):
    node_synced(datetime.now(UTC))  # in touch with headquarters: the offline policy restricts nothing
    ids = _lifecycle(session_factory, demo, actors)
    docs, vouchers, origins, series = _numbers(session_factory, demo.org_id)
    receipt, transfer, shipment, count, settlement = (docs[i] for i in ids)
    assert re.fullmatch(r"RK-SX-N1-\d{8}-0001", receipt)
    assert re.fullmatch(r"DB-SX-N1-\d{8}-0001", transfer)
    assert re.fullmatch(r"CK-ZC-N1-\d{8}-0001", shipment)
    assert re.fullmatch(r"PD-SX-N1-\d{8}-0001", count)
    assert re.fullmatch(r"FK-N1-\d{8}-0001", settlement)
    assert all(len(n) <= 48 for n in docs.values())
    assert vouchers and all(re.fullmatch(r"记-N1-\d{6}-\d{5}", v) for v in vouchers), vouchers
    assert origins == {"N1"}
    # The node's counters are its own: none of headquarters' series is bumped.
    assert series and all(s.endswith("-N1") for s in series), series


def test_headquarters_numbers_keep_their_shape(session_factory, demo, actors):
    assert node.current() == node.SERVER
    ids = _lifecycle(session_factory, demo, actors)
    docs, vouchers, origins, series = _numbers(session_factory, demo.org_id)
    assert re.fullmatch(r"RK-SX-\d{8}-0001", docs[ids[0]])
    assert re.fullmatch(r"FK-\d{8}-0001", docs[ids[4]])
    assert all(re.fullmatch(r"记-\d{6}-\d{5}", v) for v in vouchers), vouchers
    assert origins == {"server"}
    assert "voucher" in series and not any(s.endswith("-N1") for s in series)


def test_an_offline_phones_origin_is_kept_at_a_node(at_node):
    assert node.origin("server") == "N1"
    assert node.origin("offline-phone") == "offline-phone"


def test_two_nodes_seeded_alike_never_issue_the_same_number(tmp_path: Path):
    """Two edge nodes, each its own SQLite database with the same demo org: their numbers are disjoint."""
    issued: dict[str, tuple[set[str], set[str]]] = {}
    try:
        for code in ("N1", "N2"):
            url = f"sqlite:///{tmp_path / f'{code}.db'}"
            migrate(url)
            engine = make_engine(url)
            factory = make_session_factory(engine)
            node.configure(code, block=7)
            demo = run(factory, seed_demo, "same-coop")
            with factory.begin() as session:  # in touch with headquarters: no offline restriction
                session.add(NodeState(node_code=code, last_synced_at=datetime.now(UTC)))
            with factory() as session:
                actors = {name: load_actor(session, mid) for name, mid in demo.members.items()}
            _lifecycle(factory, demo, actors)
            docs, vouchers, origins, _series = _numbers(factory, demo.org_id)
            assert origins == {code}
            issued[code] = (set(docs.values()), set(vouchers))
            engine.dispose()
    finally:
        node.configure(node.SERVER)
    (docs1, vouchers1), (docs2, vouchers2) = issued["N1"], issued["N2"]
    assert len(docs1) == len(docs2) >= 5 and len(vouchers1) == len(vouchers2) >= 3
    assert not docs1 & docs2 and not vouchers1 & vouchers2
    # Alike but for the node code: the same counters, each node's own.
    assert {n.replace("-N1", "-N2") for n in docs1} == docs2


@pytest.mark.parametrize("value", ["n1", "N-1", "NODE12345", "Server", " N1"])
def test_settings_refuse_a_bad_node_code(value: str):
    with pytest.raises(ValidationError) as refused:
        Settings.from_env({"LIUZHUAN_NODE": value})
    assert refused.value.details["field"] == "LIUZHUAN_NODE"


@pytest.mark.parametrize("value", ["server", "N1", "SX01", "ABCDEFG8"])
def test_settings_accept_a_node_code(value: str):
    assert Settings.from_env({"LIUZHUAN_NODE": value}).node_name == value


def test_configure_refuses_a_bad_code():
    with pytest.raises(ValueError):
        node.configure("n1")
    assert node.current() == node.SERVER


def test_a_close_at_headquarters_renumbers_its_own_vouchers_and_leaves_a_nodes_alone(session_factory, demo, actors,
                                                                                    node_synced):
    """A node's vouchers merged into headquarters' books keep their numbers through the month's close."""
    november = datetime(2026, 11, 3, 10, tzinfo=SHANGHAI)
    node_synced(datetime.now(UTC))
    try:
        receive(session_factory, demo, 10, business_time=november)
    finally:
        node.configure(node.SERVER)
    receive(session_factory, demo, 20, business_time=november + timedelta(days=1))
    ship(session_factory, demo, 5, unit_price=100, business_time=november + timedelta(days=2))
    with session_factory() as s:
        before = set(s.scalars(select(Voucher.number).where(Voucher.org_id == demo.org_id)))
    from_node = {n for n in before if n.startswith("记-N1-")}
    assert len(from_node) == 1
    state = run(session_factory, close_period, actors["吴会计"], ClosePeriod("202611"))
    with session_factory() as s:
        after = set(s.scalars(select(Voucher.number).where(Voucher.org_id == demo.org_id)))
    assert from_node <= after
    own = sorted(after - from_node)
    assert own == [f"记-202611-{i:05d}" for i in range(1, len(own) + 1)] and state.voucher_count == len(own)


def test_the_web_app_and_the_worker_set_the_node_code_from_the_setting(database_url, tmp_path: Path):
    from app.factory import create_app
    from workflows.celery_app import create_celery

    env = {"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path)}
    try:
        create_app({**env, "LIUZHUAN_NODE": "N7"})
        assert node.current() == "N7" and node.tagged("RK-SX") == "RK-SX-N7"
        create_celery(Settings.from_env({**env, "LIUZHUAN_NODE": "N8"}))
        assert node.current() == "N8" and node.voucher_series() == "voucher-N8"
        with pytest.raises(ValidationError):
            create_app({**env, "LIUZHUAN_NODE": "n9"})
        assert node.current() == "N8"  # a refused setting changes nothing
        create_app(env)
        assert node.current() == node.SERVER and node.tagged("RK-SX") == "RK-SX"
    finally:
        node.configure(node.SERVER)
