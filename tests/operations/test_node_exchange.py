"""One sync exchange between headquarters (the test database) and an edge node (its own SQLite file),
both in this process (tests.node_link).

What must hold (issue 14): the node's receipts reach headquarters once, with their vouchers and
balances; an exchange repeated, or a batch sent again after its answer was lost, changes nothing; a
batch with a gap is not applied; the master data and headquarters' moves at the node's sites come
down; a node's issue that clashes with headquarters becomes a conflict with a task.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from models import node
from models.documents import Document
from models.errors import NodeRebuilt
from models.finance import Voucher, VoucherLine
from models.nodes import Node, NodeState, SyncConflict, SyncLog
from models.operations import node_exchange
from models.operations.masterdata import SetGradePrice, set_grade_price
from models.operations.nodes import RotateNodeKey, rotate_node_key
from models.operations.quality import RecordQc, record_qc
from models.operations.receiving import ReceiveGoods, receive_goods
from models.operations.shipping import ShipGoods, ship_goods
from models.stock import QcStatus, StockMove
from models.tasks import Todo
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401  (the API fixtures)
from tests.node_link import fx_link, hq_counts, on_hand, receive_at_node  # noqa: F401  (fx_link: the link fixture)


def test_receipts_at_a_node_reach_headquarters_once(link, demo, actors):
    first = link.exchange()
    assert first["block"] == link.node_id and first["up_seq"] == 0
    with link.local() as s:  # master data came down with headquarters' ids
        assert s.scalar(select(func.count()).select_from(Node.__table__.metadata.tables["items"])) == 2
    numbers = receive_at_node(link, demo, actors, 3)
    assert all(n.startswith("RK-SX-N1-") for n in numbers)
    body = link.body()
    answer = link.exchange()
    assert answer["applied"] > 0 and answer["up_seq"] == body["up"]["entries"][-1][0]
    assert hq_counts(link, demo.org_id) == (3, 3, 3)
    with link.hq() as s:
        docs = s.scalars(select(Document).where(Document.org_id == demo.org_id, Document.number.in_(numbers))).all()
        assert sorted(d.number for d in docs) == sorted(numbers)
        assert all(link.node_id * node.BLOCK <= d.id < (link.node_id + 1) * node.BLOCK for d in docs)
        for v in s.scalars(select(Voucher).where(Voucher.document_id.in_([d.id for d in docs]))):
            lines = s.scalars(select(VoucherLine).where(VoucherLine.voucher_id == v.id)).all()
            assert sum(ln.debit for ln in lines) == sum(ln.credit for ln in lines) > 0
        lot_ids = [m.lot_id for m in s.scalars(select(StockMove).where(StockMove.origin_node == "N1",
                                                                       StockMove.org_id == demo.org_id))]
    for lot_id in lot_ids:  # headquarters' balance follows the node's moves, as at the node
        assert on_hand(link.hq, demo.sites["SX"], lot_id) == on_hand(link.local, demo.sites["SX"], lot_id) == 10
    with link.local() as s:
        assert s.scalar(select(func.count()).select_from(SyncLog)) == 0  # acknowledged, so dropped

    # Again: nothing to send, nothing new anywhere.
    again = link.exchange()
    assert again["applied"] == 0 and hq_counts(link, demo.org_id) == (3, 3, 3)

    # The answer to a batch is lost: the node sends the same batch again (a fresh nonce): skipped.
    receive_at_node(link, demo, actors, 1)
    batch = link.body()
    answered = link.send(batch)
    assert hq_counts(link, demo.org_id) == (4, 4, 4)
    resent = link.send(batch)
    assert resent["applied"] == 0 and resent["up_seq"] == answered["up_seq"]
    assert hq_counts(link, demo.org_id) == (4, 4, 4)
    link.apply(resent)
    assert link.exchange()["applied"] == 0 and hq_counts(link, demo.org_id) == (4, 4, 4)


def test_a_batch_after_a_gap_is_not_applied(link, demo, actors):
    link.exchange()
    receive_at_node(link, demo, actors, 2)
    body = link.body()
    entries = body["up"]["entries"]
    half = len(entries) // 2
    gap = {**body, "up": {"entries": entries[half:], "rows": body["up"]["rows"]}}
    answer = link.send(gap)
    assert answer["applied"] == 0 and answer["up_seq"] == 0
    assert hq_counts(link, demo.org_id) == (0, 0, 0)
    link.apply(answer)  # the node learns the cursor and sends everything from there
    link.exchange()
    assert hq_counts(link, demo.org_id) == (2, 2, 2)


def test_headquarters_moves_at_the_node_site_come_down(link, demo, actors):
    link.exchange()
    got = run(link.hq, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("7"),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["特级"]))
    answer = link.send(link.body())
    assert link.apply(answer)["down_rows"] > 0
    with link.local() as s:
        doc = s.scalar(select(Document).where(Document.number == got.number))
        assert doc is not None and doc.id == got.document_id
        lot_id = s.scalar(select(StockMove.lot_id).where(StockMove.document_id == got.document_id))
        assert s.scalar(select(func.count()).select_from(SyncLog)) == 0  # not sent back up
    assert on_hand(link.local, demo.sites["SX"], lot_id) == 7
    assert link.apply(link.send(link.body()))["down_rows"] == 0  # the overlap re-sends; nothing new


def test_a_node_shipping_from_a_lot_failed_at_headquarters_opens_a_conflict_task(link, demo, actors):
    link.exchange()
    receive_at_node(link, demo, actors, 1, qty="20")
    link.exchange()
    with link.hq() as s:
        lot_id = s.scalar(select(StockMove.lot_id).where(StockMove.origin_node == "N1",
                                                         StockMove.org_id == demo.org_id))
    run(link.hq, record_qc, actors["赵经理"], RecordQc(lot_id=lot_id, passed=False, note="农残超标"))
    # Meanwhile the node (offline, not knowing) ships 15 of the lot, and headquarters ships 10 of it too.
    with link.node():
        run(link.local, ship_goods, actors["小周"], ShipGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("15"),
            party_id=demo.parties["杭州茶城"], lot_id=lot_id, unit_price=Decimal("200")))
    answer = link.send(link.body())
    assert answer["conflicts"] >= 1
    with link.hq() as s:
        conflicts = s.scalars(select(SyncConflict).where(SyncConflict.org_id == demo.org_id)).all()
        rules = {c.rule for c in conflicts}
        assert "lot_blocked" in rules
        for c in conflicts:
            todo = s.get(Todo, c.todo_id)
            assert todo is not None and todo.kind == "node_conflict" and "N1" in todo.title
            assert Decimal(c.facts["node"]["quantity"]) == -15
            assert c.facts["headquarters"]["qc_status"] == QcStatus.FAILED.value
            assert c.facts["proposal"]["kind"] == "recall"
    # The move is applied anyway (the goods did leave) and sending again opens nothing new.
    assert on_hand(link.hq, demo.sites["SX"], lot_id) == 5
    again = link.send(link.body())
    assert again["conflicts"] == 0


def test_headquarters_overselling_with_the_node_opens_an_oversold_conflict(link, demo, actors, client, as_):
    link.exchange()
    receive_at_node(link, demo, actors, 1, qty="20")
    link.exchange()
    with link.hq() as s:
        lot_id = s.scalar(select(StockMove.lot_id).where(StockMove.origin_node == "N1",
                                                         StockMove.org_id == demo.org_id))
    run(link.hq, ship_goods, actors["小周"], ShipGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("12"),
        party_id=demo.parties["杭州茶城"], lot_id=lot_id, unit_price=Decimal("200")))
    with link.node():  # the node still sees 20 and sells 15
        run(link.local, ship_goods, actors["小周"], ShipGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("15"),
            party_id=demo.parties["杭州茶城"], lot_id=lot_id, unit_price=Decimal("200")))
    answer = link.send(link.body())
    assert answer["conflicts"] == 1
    assert on_hand(link.hq, demo.sites["SX"], lot_id) == -7
    with link.hq() as s:
        c = s.scalar(select(SyncConflict).where(SyncConflict.org_id == demo.org_id))
        assert c.rule == "oversold" and Decimal(c.facts["proposal"]["quantity"]) == 7
        assert s.get(Todo, c.todo_id).assignee_role == "manager"
    # Once the answer is applied the node's own ledger has headquarters' shipment too: both agree.
    link.apply(answer)
    assert on_hand(link.local, demo.sites["SX"], lot_id) == -7
    # The managers' API lists it with both sides' facts; a clerk may not.
    resp = client.get("/api/v1/nodes/conflicts", headers=as_("赵经理"))
    assert resp.status_code == 200
    (line,) = resp.get_json()
    assert line["node"] == "N1" and line["rule"] == "oversold" and line["todo_id"] == c.todo_id
    assert Decimal(line["headquarters_facts"]["on_hand_after"]) == -7
    assert client.get("/api/v1/nodes/conflicts", headers=as_("小周")).status_code == 403


def test_a_receipt_at_the_old_price_after_headquarters_changed_it_opens_a_stale_price_conflict(link, demo, actors):
    link.exchange()
    run(link.hq, set_grade_price, actors["钱总监"],
        SetGradePrice(demo.grades["特级"], Decimal("130"), reason="行情上涨"))
    receive_at_node(link, demo, actors, 1, qty="10")  # the node still has 120
    answer = link.send(link.body())
    assert answer["conflicts"] == 1
    with link.hq() as s:
        c = s.scalar(select(SyncConflict).where(SyncConflict.org_id == demo.org_id))
        assert c.rule == "stale_price" and c.facts["proposal"]["kind"] == "adjustment"
        assert Decimal(c.facts["node"]["unit_price"]) == 120 and Decimal(c.facts["headquarters"]["unit_price"]) == 130
        assert Decimal(c.facts["proposal"]["amount"]) == 100 and "补付" in s.get(Todo, c.todo_id).body
    link.apply(answer)  # the new price comes down: the next receipt uses it, and nothing is flagged
    receive_at_node(link, demo, actors, 1, qty="10")
    assert link.send(link.body())["conflicts"] == 0


def _hq_receipts_at_sx(link, demo, actors, n: int) -> list[int]:
    return [run(link.hq, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("1"),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["特级"])).document_id for _ in range(n)]


def _node_moves(link) -> set[str]:
    with link.local() as s:
        return {m.hex for m in s.scalars(select(StockMove.id).where(StockMove.origin_node != "N1"))}


def test_a_burst_of_moves_comes_down_page_by_page_without_repeating(link, demo, actors, monkeypatch):
    monkeypatch.setattr(node_exchange, "DOWN_MOVES", 3)
    link.exchange()
    before = _node_moves(link)
    _hq_receipts_at_sx(link, demo, actors, 7)  # all within a second: one overlap window
    pages = []
    for _ in range(6):
        answer = link.send(link.body())
        pages.append(len(answer["down"]["moves"]["rows"].get("stock_moves", [])))
        link.apply(answer)
        if not answer["down"]["moves"]["more"]:
            break
    assert len(_node_moves(link) - before) == 7
    assert pages == [3, 3, 1]  # each page new: the window is not re-sent while the node has all of it
    assert link.send(link.body())["down"]["moves"]["rows"] == {}


def test_a_move_that_commits_late_within_the_overlap_still_comes_down(link, demo, actors):
    link.exchange()
    _hq_receipts_at_sx(link, demo, actors, 1)
    link.exchange()
    with link.local() as s:
        cursor = s.scalar(select(NodeState.down_cursor))
    # A move recorded a minute before the node's cursor but committed only now (a slow transaction).
    (late,) = _hq_receipts_at_sx(link, demo, actors, 1)
    with link.hq.begin() as s:
        s.execute(update(StockMove).where(StockMove.document_id == late).values(
            recorded_at=datetime.fromisoformat(cursor["moves_after"]) - timedelta(minutes=1)))
    answer = link.send(link.body())
    assert any(r["document_id"] == late for r in answer["down"]["moves"]["rows"]["stock_moves"])
    link.apply(answer)
    with link.local() as s:
        assert s.scalar(select(func.count()).select_from(StockMove).where(StockMove.document_id == late)) == 1
    assert link.send(link.body())["down"]["moves"]["rows"] == {}  # counts agree again: nothing re-sent


def test_a_rebuilt_node_database_is_refused_until_its_key_is_rotated(link, demo, actors):
    first = link.send(link.body(epoch="a" * 32, acked=0))
    link.apply(first)
    receive_at_node(link, demo, actors, 2)
    link.apply(link.send(link.body(epoch="a" * 32, acked=0)))
    with link.hq() as s:
        cursor = s.get(Node, link.node_id).up_seq
    assert cursor > 0 and hq_counts(link, demo.org_id)[0] == 2
    # The node's disk is replaced: a new database numbers its changes from 1 again.
    with pytest.raises(NodeRebuilt):
        link.send(link.body(epoch="b" * 32, acked=0))
    with link.hq() as s:
        assert s.get(Node, link.node_id).up_seq == cursor
    # Rotating the key at headquarters lets the new database start over, from its own cursor.
    link.key = run(link.hq, rotate_node_key, actors["钱总监"], RotateNodeKey(link.node_id, "换了硬盘")).key
    answer = link.send(link.body(epoch="b" * 32, acked=0))
    assert answer["up_seq"] == 0
    with link.hq() as s:
        assert s.get(Node, link.node_id).epoch == "b" * 32
