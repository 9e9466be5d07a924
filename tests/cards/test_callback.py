"""A DingTalk card tap decides the approval once; every level's card shows the outcome.

The real SDK clients (alibabacloud-dingtalk card_1_0, wechatpy) talk to a local stub server.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from dingtalk.crypto import DingTalkCrypto
from flask import Flask
from sqlalchemy import func, select

import workflows.handlers  # noqa: F401  (register relay handlers)
from cards.callback import bp
from devstubs.dingtalk import install_dingtalk_token
from devstubs.dingtalk_cards import card_callback, install_dingtalk_cards
from devstubs.server import StubServer
from devstubs.wechat import install_wechat_token
from devstubs.wechat_subscribe import install_wechat_subscribe
from models.approvals import ApprovalRequest
from models.documents import DocStatus, Document
from models.infra import OutboxEvent
from models.operations import RequestTransfer, TransferLineIn, request_transfer
from models.org import IdentityProvider, MemberIdentity
from models.tasks import TaskStatus, Todo
from models.uow import run
from tests.factories import drain
from workflows.messenger import PlatformMessenger, set_messenger

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TOKEN, APP_KEY = "card-token", "ding-test-key"


@pytest.fixture
def stub():
    with StubServer() as server:
        install_dingtalk_token(server)
        install_wechat_token(server)
        server.cards = install_dingtalk_cards(server)
        server.subscribes = install_wechat_subscribe(server)
        set_messenger(PlatformMessenger(
            dingtalk_key=APP_KEY, dingtalk_secret="ding-test-secret", card_template_id="tpl.schema",
            robot_code="robot", wechat_appid="wx-test-app", wechat_secret="wx-test-secret",
            dingtalk_base=server.base_url, wechat_base=server.base_url))
        yield server
        set_messenger(None)


@pytest.fixture
def client(session_factory, monkeypatch):
    monkeypatch.setenv("DINGTALK_CALLBACK_TOKEN", TOKEN)
    monkeypatch.setenv("DINGTALK_CALLBACK_AES_KEY", AES_KEY)
    monkeypatch.setenv("DINGTALK_APP_KEY", APP_KEY)
    app = Flask(__name__)
    app.extensions["liuzhuan"] = {"session_factory": session_factory}
    app.register_blueprint(bp)
    return app.test_client()


def tap(client, track: str, user: str, action: str, reason: str = "") -> dict:
    query, body = card_callback(DingTalkCrypto(TOKEN, AES_KEY, APP_KEY), out_track_id=track, user_id=user,
                                action=action, reason=reason)
    resp = client.post("/cards/dingtalk/callback", query_string=query, json=body)
    assert resp.status_code == 200, resp.data
    return resp.get_json()["cardData"]["cardParamMap"]


def test_urgent_transfer_walks_the_chain_by_card_taps(session_factory, demo, actors, stub, client):
    with session_factory() as session:
        session.add(MemberIdentity(org_id=demo.org_id, member_id=demo.members["赵经理"],
                                   provider=IdentityProvider.WECHAT_OPENID, external_id=f"openid-zhao-{demo.org_id}"))
        session.commit()
    transfer = run(session_factory, request_transfer, actors["小周"], RequestTransfer(
        from_site_id=demo.sites["SX"], to_site_id=demo.sites["ZC"],
        lines=(TransferLineIn(demo.items["茶青"], Decimal(50), "公斤"),), urgent=True, reason="门店断货"))
    drain(session_factory)
    with session_factory() as session:
        req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == transfer.document_id))
        track = req.card_track_id
        assert [s["role"] for s in req.steps] == ["manager", "director"]
    first = stub.cards.cards[f"{track}-L0"]
    assert first["openSpaceId"] == "dtv1.card//IM_ROBOT.zhao"
    assert first["cardParamMap"]["title"] == f"【加急】调拨申请 {transfer.number}"
    assert stub.subscribes[-1]["touser"] == f"openid-zhao-{demo.org_id}"
    assert stub.subscribes[-1]["page"] == f"pages/approvals/detail?id={req.id}"

    params = tap(client, f"{track}-L0", "zhao", "approve")
    assert params["progress"] == "✔主管 → ●总监" and params["decided"] == "false"
    tap(client, f"{track}-L0", "zhao", "approve")  # DingTalk retries the callback: applies once
    with session_factory() as session:
        req = session.get(ApprovalRequest, req.id)
        assert req.step == 1 and len(req.history) == 1
        assert session.get(Document, transfer.document_id).status == DocStatus.REQUESTED
    drain(session_factory)
    assert stub.cards.cards[f"{track}-L1"]["openSpaceId"] == "dtv1.card//IM_ROBOT.qian"

    params = tap(client, f"{track}-L1", "qian", "approve")
    assert params["status_label"] == "已同意" and params["outcome"].startswith("钱总监 于 ")
    drain(session_factory)
    for level in ("L0", "L1"):  # every viewer of every level's card sees who decided and when
        assert stub.cards.params(f"{track}-{level}")["outcome"].startswith("钱总监 于 ")
        assert stub.cards.params(f"{track}-{level}")["decided"] == "true"
    late = tap(client, f"{track}-L0", "zhao", "reject", "太晚了")  # a later tap sees the outcome
    assert late["status_label"] == "已同意"
    with session_factory() as session:
        assert session.get(Document, transfer.document_id).status == DocStatus.APPROVED
        decided = session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.kind == "approval.decided", OutboxEvent.document_id == transfer.document_id))
        assert decided == 1
        todos = list(session.scalars(select(Todo).where(Todo.document_id == transfer.document_id)))
        assert todos and all(t.status == TaskStatus.DONE for t in todos)


def test_a_forged_callback_is_refused(session_factory, demo, client):
    query, body = card_callback(DingTalkCrypto("wrong-token", AES_KEY, APP_KEY), out_track_id="appr-transfer-1-L0",
                                user_id="zhao", action="approve")
    assert client.post("/cards/dingtalk/callback", query_string=query, json=body).status_code == 403


def test_a_reject_needs_a_reason_and_the_card_says_so(session_factory, demo, actors, stub, client):
    transfer = run(session_factory, request_transfer, actors["小周"], RequestTransfer(
        from_site_id=demo.sites["SX"], to_site_id=demo.sites["ZC"],
        lines=(TransferLineIn(demo.items["茶青"], Decimal(5), "公斤"),)))
    drain(session_factory)
    with session_factory() as session:
        req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == transfer.document_id))
    params = tap(client, f"{req.card_track_id}-L0", "zhao", "reject")
    assert params["error"] == "驳回须说明原因" and params["decided"] == "false"
    params = tap(client, f"{req.card_track_id}-L0", "zhao", "reject", "总仓已满")
    assert params["status_label"] == "已驳回"
    with session_factory() as session:
        assert session.get(Document, transfer.document_id).status == DocStatus.REJECTED
