"""Headquarters (the test database) and an edge node (its own SQLite file) in one test process, and
the sync exchange between them. The node code is process-global, so it is switched to the node's around
the node's own work (``link.node()``) and is headquarters' otherwise, as two processes would have it.
Use the ``link`` fixture (import ``fx_link``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.cli import migrate
from models import node
from models.db import make_engine, make_session_factory
from models.documents import Document
from models.finance import Voucher
from models.operations.node_auth import SignedRequest, signed_headers
from models.operations.node_exchange import NodeExchange, node_exchange
from models.operations.node_replica import apply_answer, down_request, up_batch
from models.operations.nodes import RecordSync, RegisterNode, record_sync, register_node
from models.operations.receiving import ReceiveGoods, receive_goods
from models.stock import Balance, StockMove
from models.uow import run

PATH = "/api/v1/nodes/sync"


@contextmanager
def as_node(code: str, block: int) -> Iterator[None]:
    node.configure(code, block=block)
    try:
        yield
    finally:
        node.configure(node.SERVER)


class Link:
    """Headquarters and one node, and the exchange between them."""

    def __init__(self, hq: sessionmaker[Session], local: sessionmaker[Session], node_id: int, key: str) -> None:
        self.hq, self.local, self.node_id, self.key = hq, local, node_id, key

    def node(self) -> Any:
        return as_node("N1", self.node_id)

    def body(self, **overrides: Any) -> dict[str, Any]:
        with self.node(), self.local() as s:
            batch, down = up_batch(s), down_request(s)
        return {"node": "N1", "version": "1", "up": batch, "pending": 0, "pending_since": None, "down": down,
                **overrides}

    def send(self, body: dict[str, Any], *, tamper: Callable[[bytes], bytes] | None = None) -> dict[str, Any]:
        raw = json.dumps(body).encode()
        headers = signed_headers("N1", self.key, "POST", PATH, raw)
        answer = run(self.hq, node_exchange, NodeExchange(SignedRequest("POST", PATH, headers,
                                                                        tamper(raw) if tamper else raw)))
        return json.loads(json.dumps(answer))  # as the wire gives it

    def apply(self, answer: dict[str, Any]) -> dict[str, int]:
        with self.node():
            got = run(self.local, apply_answer, answer)
            run(self.local, record_sync, RecordSync("N1", ok=True))
        return got

    def exchange(self) -> dict[str, Any]:
        answer = self.send(self.body())
        self.apply(answer)
        return answer


@pytest.fixture(name="link")
def fx_link(tmp_path, session_factory, demo, actors) -> Iterator[Link]:
    key = run(session_factory, register_node, actors["钱总监"], RegisterNode("N1", (demo.sites["SX"],)))
    url = f"sqlite:///{tmp_path / 'node.db'}"
    migrate(url)
    engine = make_engine(url)
    yield Link(session_factory, make_session_factory(engine), key.node_id, key.key)
    engine.dispose()


def receive_at_node(link: Link, demo, actors, n: int, qty: str = "10") -> list[str]:
    with link.node():
        return [run(link.local, receive_goods, actors["小周"], ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty),
            party_id=demo.parties["王阿姨"], grade_id=demo.grades["特级"])).number for _ in range(n)]


def hq_counts(link: Link, org_id: int) -> tuple[int, int, int]:
    with link.hq() as s:
        docs = s.scalar(select(func.count()).select_from(Document).where(
            Document.org_id == org_id, Document.number.like("%-N1-%")))
        moves = s.scalar(select(func.count()).select_from(StockMove).where(StockMove.origin_node == "N1",
                                                                           StockMove.org_id == org_id))
        vouchers = s.scalar(select(func.count()).select_from(Voucher).where(Voucher.org_id == org_id,
                                                                            Voucher.number.like("%-N1-%")))
    return int(docs or 0), int(moves or 0), int(vouchers or 0)


def on_hand(sf: sessionmaker[Session], site_id: int, lot_id: int) -> Decimal:
    with sf() as s:
        return s.scalar(select(Balance.on_hand).where(Balance.site_id == site_id, Balance.lot_id == lot_id)) \
            or Decimal(0)


