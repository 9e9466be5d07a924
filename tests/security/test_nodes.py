"""Edge nodes' signed requests (issue 14, first slice): every forged, altered, stale or replayed hello is
refused with its stable code, and changes nothing — no contact recorded, no nonce kept, no row written."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import timedelta

import pytest

from models.actor import Actor
from models.base import utcnow
from models.demo import seed_demo
from models.nodes import Node
from models.operations.node_auth import MAX_UNPACKED, signed_headers
from models.operations.nodes import (
    DeactivateNode,
    RegisterNode,
    RotateNodeKey,
    deactivate_node,
    register_node,
    rotate_node_key,
)
from models.uow import run
from tests.security.conftest import assert_refused, rows

HELLO = "/api/v1/nodes/hello"


@pytest.fixture
def node(session_factory, demo):
    return run(session_factory, register_node, Actor.system_actor(demo.org_id),
               RegisterNode("SX1", (demo.sites["SX"], demo.sites["ZC"]), name="绍兴节点"))


def _body(code: str = "SX1") -> bytes:
    return json.dumps({"node": code, "version": "1", "sent_at": utcnow().isoformat()}).encode()


def _post(client, key: str, body: bytes | None = None, *, code: str = "SX1", signed_path: str = HELLO,
          signed_body: bytes | None = None, now=None, headers: dict[str, str] | None = None, **extra: str):
    body = _body(code) if body is None else body
    sent = headers or signed_headers(code, key, "POST", signed_path, body if signed_body is None else signed_body,
                                     now=now)
    return client.post(HELLO, data=body, headers={**sent, "Content-Type": "application/json", **extra})


def _contact(session_factory, node_id: int):
    with session_factory() as s:
        return s.get(Node, node_id).last_contact_at


def test_a_good_hello_is_answered_and_the_contact_recorded(client, session_factory, demo, node):
    resp = _post(client, node.key)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert answer["node"] == "SX1" and answer["cursors"] == {"up": 0, "down": 0}
    assert [(s["code"], s["id"]) for s in answer["sites"]] == [("SX", demo.sites["SX"]), ("ZC", demo.sites["ZC"])]
    with session_factory() as s:
        row = s.get(Node, node.node_id)
        assert row.last_contact_at is not None and row.last_contact_ip == "127.0.0.1" and row.last_version == "1"
    assert node.key not in resp.get_data(as_text=True)


def _refused(client, engine, session_factory, node, status: int, error: str, **kwargs):
    before = rows(engine)
    resp = _post(client, kwargs.pop("key", node.key), **kwargs)
    assert_refused(resp, status, error)
    assert rows(engine) == before
    assert _contact(session_factory, node.node_id) is None


def test_a_wrong_key_is_refused(client, engine, session_factory, node):
    _refused(client, engine, session_factory, node, 401, "NODE_SIGNATURE_INVALID", key="x" * 43)


def test_a_changed_body_is_refused(client, engine, session_factory, node):
    _refused(client, engine, session_factory, node, 401, "NODE_SIGNATURE_INVALID",
             body=_body(), signed_body=_body().replace(b'"1"', b'"2"'))


def test_a_signature_for_another_path_is_refused(client, engine, session_factory, node):
    _refused(client, engine, session_factory, node, 401, "NODE_SIGNATURE_INVALID", signed_path="/api/v1/nodes/rows")


@pytest.mark.parametrize("seconds", [-301, 301, -86400 * 365])
def test_a_stale_or_future_timestamp_is_refused(client, engine, session_factory, node, seconds):
    _refused(client, engine, session_factory, node, 401, "NODE_CLOCK_SKEW", now=utcnow() + timedelta(seconds=seconds))


def test_an_unknown_or_malformed_node_is_refused(client, engine, session_factory, node):
    _refused(client, engine, session_factory, node, 401, "NODE_UNKNOWN", code="NOPE1")
    _refused(client, engine, session_factory, node, 401, "NODE_UNKNOWN", code="sx1'; --")
    before = rows(engine)
    assert_refused(client.post(HELLO, data=_body(), content_type="application/json"), 401, "NODE_UNKNOWN")
    assert rows(engine) == before


def test_a_replayed_nonce_is_refused_and_changes_nothing(client, engine, session_factory, node):
    body = _body()
    headers = signed_headers("SX1", node.key, "POST", HELLO, body)
    assert _post(client, node.key, body, headers=headers).status_code == 200
    first = _contact(session_factory, node.node_id)
    before = rows(engine)
    assert_refused(_post(client, node.key, body, headers=headers), 409, "NODE_REPLAYED")
    assert rows(engine) == before and _contact(session_factory, node.node_id) == first


def test_a_deactivated_node_and_a_rotated_key_are_refused(client, engine, session_factory, demo, node):
    director = Actor.system_actor(demo.org_id)
    new = run(session_factory, rotate_node_key, director, RotateNodeKey(node.node_id))
    _refused(client, engine, session_factory, node, 401, "NODE_SIGNATURE_INVALID")  # the old key
    run(session_factory, deactivate_node, director, DeactivateNode(node.node_id))
    _refused(client, engine, session_factory, node, 401, "NODE_UNKNOWN", key=new.key)


def test_the_body_must_name_the_signing_node(client, engine, session_factory, node):
    body = _body("ZC9")
    _refused(client, engine, session_factory, node, 401, "NODE_SIGNATURE_INVALID", body=body,
             headers=signed_headers("SX1", node.key, "POST", HELLO, body))


def test_two_orgs_nodes_of_one_code_are_told_apart_by_their_keys(client, session_factory, node):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    theirs = run(session_factory, register_node, Actor.system_actor(other.org_id),
                 RegisterNode("SX1", (other.sites["MD"],)))
    resp = _post(client, theirs.key)
    assert resp.status_code == 200 and [s["id"] for s in resp.get_json()["sites"]] == [other.sites["MD"]]
    assert _contact(session_factory, node.node_id) is None
    assert _contact(session_factory, theirs.node_id) is not None


def test_a_gzip_body_is_accepted_and_a_gzip_bomb_refused(client, engine, session_factory, node):
    packed = gzip.compress(_body())
    assert _post(client, node.key, packed, **{"Content-Encoding": "gzip"}).status_code == 200
    contact = _contact(session_factory, node.node_id)
    bomb = gzip.compress(b" " * (MAX_UNPACKED + 1024))  # ~10 KB on the wire, over 10 MB unpacked
    assert len(bomb) < 100_000
    before = rows(engine)
    assert_refused(_post(client, node.key, bomb, **{"Content-Encoding": "gzip"}), 413, "BODY_TOO_LARGE")
    assert_refused(_post(client, node.key, b"\x1f\x8bjunk", **{"Content-Encoding": "gzip"}), 422, "VALIDATION_ERROR")
    assert_refused(_post(client, node.key, packed, **{"Content-Encoding": "br"}), 422, "VALIDATION_ERROR")
    # Unsigned, the bomb is not even unpacked: the signature is checked on the bytes as sent.
    assert_refused(_post(client, "y" * 43, bomb, **{"Content-Encoding": "gzip"}), 401, "NODE_SIGNATURE_INVALID")
    assert rows(engine) == before and _contact(session_factory, node.node_id) == contact


def test_the_node_routes_never_5xx_and_answer_as_the_spec_says(app, as_, demo, node):
    """schemathesis on the nodes' API routes and console pages only (the whole-spec runs cover them too)."""
    from tests.console.conftest import csrf_of, sign_in
    from tests.fuzzing import fuzz_spec

    seen, failures = fuzz_spec(app, as_("赵经理"), 20, include=lambda path: path.startswith("/api/v1/nodes"))
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
    assert {"GET /api/v1/nodes", "POST /api/v1/nodes/hello"} <= set(seen)
    client = app.test_client()
    sign_in(client, demo, "钱总监")
    cookie = client.get_cookie("lz_console")
    assert cookie is not None
    seen, failures = fuzz_spec(app, {"X-CSRFToken": csrf_of(client, "/console/")}, 10,
                               include=lambda path: path.startswith("/console/collaboration/nodes"),
                               cookies={"lz_console": cookie.value})
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
    assert len(seen) == 4
