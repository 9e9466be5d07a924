"""Attacks on ``POST /api/v1/nodes/sync``: a node (or someone with a copy of a request) trying to write
what it may not. Each is refused whole, and headquarters' cursor and rows are as before."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from models.documents import Document
from models.errors import NodeReplayed, NodeSignatureInvalid, NodeUnknown, ValidationError
from models.nodes import Node
from models.operations.node_auth import SignedRequest, signed_headers
from models.operations.node_exchange import NodeExchange, node_exchange
from models.operations.nodes import DeactivateNode, deactivate_node
from models.stock import StockMove
from models.uow import run
from tests.node_link import PATH, fx_link, receive_at_node  # noqa: F401  (fx_link: the link fixture)


def _state(link, org_id: int) -> tuple[int, int, int]:
    with link.hq() as s:
        up_seq = s.get(Node, link.node_id).up_seq
        docs = s.scalar(select(func.count()).select_from(Document).where(Document.org_id == org_id))
        moves = s.scalar(select(func.count()).select_from(StockMove).where(StockMove.org_id == org_id))
    return up_seq, int(docs or 0), int(moves or 0)


@pytest.fixture
def pending(link, demo, actors):
    """A node with one receipt not yet sent, and the body it would send."""
    link.exchange()
    receive_at_node(link, demo, actors, 1)
    return link.body()


def _rows(body: dict, table: str) -> list[dict]:
    return body["up"]["rows"][table]


def test_rows_of_another_org_refuse_the_whole_batch(link, demo, pending):
    before = _state(link, demo.org_id)
    for r in _rows(pending, "documents"):
        r["org_id"] = demo.org_id + 1000
    with pytest.raises(ValidationError, match="别的组织"):
        link.send(pending)
    assert _state(link, demo.org_id) == before


def test_an_id_outside_the_nodes_block_is_refused(link, demo, pending):
    before = _state(link, demo.org_id)
    lots = _rows(pending, "lots")
    lots[0]["id"] = 5  # headquarters' block: would overwrite one of its lots
    for e in pending["up"]["entries"]:
        if e[1] == "lots":
            e[2] = "5"
    with pytest.raises(ValidationError, match="号段"):
        link.send(pending)
    assert _state(link, demo.org_id) == before


def test_a_move_at_a_site_the_node_does_not_serve_is_refused(link, demo, pending):
    before = _state(link, demo.org_id)
    for r in _rows(pending, "stock_moves"):
        r["site_id"] = demo.sites["ZC"]
    with pytest.raises(ValidationError, match="站点"):
        link.send(pending)
    assert _state(link, demo.org_id) == before


def test_a_body_changed_after_signing_is_refused(link, demo, pending):
    before = _state(link, demo.org_id)
    with pytest.raises(NodeSignatureInvalid):
        link.send(pending, tamper=lambda raw: raw.replace(b'"10.000', b'"99.000'))
    assert _state(link, demo.org_id) == before


def test_a_replayed_request_is_refused(link, demo, pending):
    raw = json.dumps(pending).encode()
    headers = signed_headers("N1", link.key, "POST", PATH, raw)
    run(link.hq, node_exchange, NodeExchange(SignedRequest("POST", PATH, headers, raw)))
    after_first = _state(link, demo.org_id)
    assert after_first[1] > 0
    with pytest.raises(NodeReplayed):
        run(link.hq, node_exchange, NodeExchange(SignedRequest("POST", PATH, headers, raw)))
    assert _state(link, demo.org_id) == after_first


def test_a_deactivated_node_cannot_sync(link, demo, actors, pending):
    run(link.hq, deactivate_node, actors["钱总监"], DeactivateNode(link.node_id, "设备丢失"))
    before = _state(link, demo.org_id)
    with pytest.raises(NodeUnknown):
        link.send(pending)
    assert _state(link, demo.org_id) == before


def test_absurd_entries_are_refused(link, demo, pending):
    before = _state(link, demo.org_id)
    for entries in ([[1, "members", "1"]], [["x", "lots", "1"]], [[1, "lots", "1"], [3, "lots", "2"]],
                    [[1, "lots", "9" * 60]]):
        with pytest.raises(ValidationError):
            link.send({**pending, "up": {"entries": entries, "rows": pending["up"]["rows"]}})
    with pytest.raises(ValidationError):  # a table the up stream does not carry
        link.send({**pending, "up": {**pending["up"], "rows": {"members": [{"id": 1, "org_id": demo.org_id}]}}})
    with pytest.raises(ValidationError):  # a value that is not what its column holds
        bad = json.loads(json.dumps(pending))
        bad["up"]["rows"]["stock_moves"][0]["quantity"] = "lots"
        link.send(bad)
    assert _state(link, demo.org_id) == before


def test_over_http_a_bad_signature_is_a_401_with_its_code(link, client, pending):
    raw = json.dumps(pending).encode()
    headers = signed_headers("N1", "x" * 43, "POST", PATH, raw)
    resp = client.post(PATH, data=raw, headers={**headers, "Content-Type": "application/json"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "NODE_SIGNATURE_INVALID"
