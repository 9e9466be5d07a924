"""DingTalk: robot callbacks (sign header), encrypted event subscription, Stream mode, robot API pushes."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid

from dingtalk.crypto import DingTalkCrypto
from dingtalk_stream import AckMessage, CallbackMessage
from PIL import Image
from sqlalchemy import func, select

import bot.push  # noqa: F401  (registers the relay handlers, as the worker does)
from bot.engine import BotServices
from bot.platforms import BotConfig, DingTalk
from bot.stream import BotStreamHandler
from models.chat import ChatInbound
from models.documents import DocKind, Document
from models.infra import OutboxEvent
from models.outbox import emit
from tests.bot.clients import ding_event
from tests.bot.conftest import AES_KEY, DING_FILES
from workflows.relay import relay_pending


def _inbound_count(session_factory, channel="dingtalk"):
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(ChatInbound).where(ChatInbound.channel == channel))


def test_robot_sign_timestamp_and_body_are_checked(ding_users, session_factory):
    sun = ding_users["老孙"]
    before = _inbound_count(session_factory)
    assert sun.post(sun.payload("帮助"), sign="forged").status_code == 403
    assert sun.post(sun.payload("帮助"), timestamp=int(time.time() * 1000) - 2 * 3600 * 1000).status_code == 403
    assert sun.post("{not json").status_code == 400
    assert sun.post({"msgtype": "text"}).status_code == 400
    assert _inbound_count(session_factory) == before
    assert "查库存" in sun.say("帮助")


def test_redelivered_robot_message_returns_first_reply_and_posts_once(ding_users, session_factory, demo):
    sun = ding_users["老孙"]
    assert "请选择地点" in sun.say("入库 龙井 2箱")
    assert "请确认入库" in sun.say("1")
    first = sun.say("确认", msg_id="msg-confirm-1")
    assert first.startswith("已入库 RK-ZC-")
    assert sun.say("确认", msg_id="msg-confirm-1") == first
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Document).where(
            Document.org_id == demo.org_id, Document.kind == DocKind.RECEIPT)) == 1


def test_unbound_dingtalk_user_and_binding(app, session_factory, demo):
    from models.actor import Actor
    from models.operations.identity import IssueBindingCode, issue_binding_code
    from models.uow import run
    from tests.bot.clients import DingTalkUser

    newcomer = DingTalkUser(app.test_client(), f"new-{uuid.uuid4().hex[:6]}", "ding-test-secret")
    assert "绑定码" in newcomer.say("茶青库存")
    assert "绑定码无效" in newcomer.say("绑定 0000 0000 0000")
    code = run(session_factory, issue_binding_code, Actor.system_actor(demo.org_id),
               IssueBindingCode(demo.members["钱总监"])).code
    assert "绑定成功：钱总监" in newcomer.say(f"绑定 {code}")
    assert "茶青 库存" in newcomer.say("茶青库存")


def test_event_subscription_check_url_and_signature(app, session_factory):
    crypto = DingTalkCrypto("ding-event-token", AES_KEY, "ding-test-key")
    client = app.test_client()
    resp = ding_event(client, crypto, {"EventType": "check_url"})
    assert resp.status_code == 200
    sealed = resp.get_json()
    assert crypto.decrypt_message(sealed, sealed["msg_signature"], sealed["timeStamp"], sealed["nonce"]) == "success"
    assert ding_event(client, crypto, {"EventType": "check_url"}, tamper=True).status_code == 403
    assert ding_event(client, crypto, {"EventType": "check_url"}, timestamp=1_000).status_code == 403
    bad = client.post("/bot/dingtalk/events", query_string={"signature": "x", "timestamp": str(int(time.time() * 1000)),
                                                            "nonce": "n"}, data="nope")
    assert bad.status_code == 400
    before = _inbound_count(session_factory, "dingtalk_event")
    event = {"EventType": "user_modify_org", "UserId": ["u1"], "CorpId": "ding-corp", "TimeStamp": "1"}
    for _ in range(2):  # redelivered: recorded once
        assert ding_event(client, crypto, event).status_code == 200
    assert _inbound_count(session_factory, "dingtalk_event") == before + 1


def test_stream_mode_feeds_the_same_handlers(ding_users, session_factory, env, stub):
    config = BotConfig.from_env(env)
    handler = BotStreamHandler(session_factory, DingTalk(config), BotServices(None, config.media_root))
    data = ding_users["赵经理"].payload("茶青库存")
    data["sessionWebhook"] = f"{stub.base_url}/robot/session-webhook"
    callback = CallbackMessage.from_dict({"specVersion": "1.0", "type": "CALLBACK", "data": json.dumps(data),
                                          "headers": {"topic": "/v1.0/im/bot/messages/get", "messageId": "m1"}})
    if isinstance(callback.data, str):
        callback.data = json.loads(callback.data)
    before = len(stub.received("/robot/session-webhook"))
    code, _ = asyncio.run(handler.process(callback))
    assert code == AckMessage.STATUS_OK
    sent = stub.received("/robot/session-webhook")[before:]
    assert len(sent) == 1 and "茶青 库存" in sent[0].json()["text"]["content"]
    recorded = _inbound_count(session_factory)
    asyncio.run(handler.process(callback))  # redelivered: answered again from the dedupe record
    assert _inbound_count(session_factory) == recorded  # nothing new recorded, nothing run twice
    again = stub.received("/robot/session-webhook")[before + 1:]
    assert [m.json()["text"]["content"] for m in again] == [sent[0].json()["text"]["content"]]


def test_push_goes_out_through_the_robot_api(ding_users, session_factory, demo, worker_env, stub):
    user = ding_users["赵经理"].user
    with session_factory() as s:
        emit(s, demo.org_id, "chat.push", {"channel": "dingtalk", "user_id": user, "text": "调拨已批准"})
        s.commit()
    before = len(stub.received("/v1.0/robot/oToMessages/batchSend"))
    relay_pending(session_factory, limit=10_000)
    sent = [r.json() for r in stub.received("/v1.0/robot/oToMessages/batchSend")[before:]]
    mine = [b for b in sent if b["userIds"] == [user]]
    assert mine and json.loads(mine[0]["msgParam"])["content"] == "调拨已批准"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "chat.push",
            OutboxEvent.dispatched_at.is_(None))) == 0


def test_picture_is_downloaded_with_its_download_code(ding_users):
    sun = ding_users["老孙"]
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(buf, "PNG")
    DING_FILES["dl-code-1"] = buf.getvalue()
    assert "请选择地点" in sun.say("入库 龙井 1箱")
    assert "请确认入库" in sun.say("1")
    picture = sun.payload("")
    picture.update(msgtype="picture", content={"downloadCode": "dl-code-1"})
    picture.pop("text")
    resp = sun.post(picture)
    assert resp.status_code == 200
    assert "共 1 张" in resp.get_json()["text"]["content"]
    assert "附照片 1 张" in sun.say("确认")


def test_audio_message_uses_dingtalk_recognition(ding_users):
    zhao = ding_users["赵经理"]
    audio = zhao.payload("")
    audio.pop("text")
    audio.update(msgtype="audio", content={"duration": 2000, "downloadCode": "dl-audio", "recognition": "茶青库存"})
    resp = zhao.post(audio)
    assert resp.status_code == 200
    reply = resp.get_json()["text"]["content"]
    assert reply.startswith("听到：茶青库存") and "绍兴收购点" in reply
