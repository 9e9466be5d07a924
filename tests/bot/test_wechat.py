"""WeChat official account: handshake, signatures, safe mode, time window, retries, voice and images."""

from __future__ import annotations

import hashlib
import io
import re
import time
from dataclasses import replace
from decimal import Decimal

from PIL import Image
from sqlalchemy import func, select

import bot.push  # noqa: F401  (registers the relay handlers, as the worker does)
from models.chat import ChatDialog, ChatInbound
from models.documents import Document
from models.infra import OutboxEvent
from models.intake import EvidencePhoto
from models.operations import ReceiveGoods, receive_goods
from models.uow import run
from tests.bot.clients import WeChatUser, wechat_xml
from tests.bot.conftest import AES_KEY, MEDIA
from workflows.relay import relay_pending


def _sig(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def test_url_verification_echoes_echostr(app):
    ts, nonce = str(int(time.time())), "n1"
    resp = app.test_client().get("/bot/wechat", query_string={
        "signature": _sig("wx-token", ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "hello-123"})
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "hello-123"
    bad = app.test_client().get("/bot/wechat", query_string={
        "signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "hello-123"})
    assert bad.status_code == 403


def test_unbound_user_gets_an_explanation(app):
    stranger = WeChatUser(app.test_client(), "o-stranger", "wx-token", AES_KEY, "wx-test-app")
    assert "绑定" in stranger.say("茶青库存")


def test_bind_with_code_then_farmer_queries(wechat: WeChatUser, session_factory, demo, actors):
    assert "交货" in wechat.say("帮助")
    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("23.5"), unit="斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    deliveries = wechat.say("我的交货")
    assert "茶青" in deliveries and "23.5斤" in deliveries and "940" in deliveries
    payments = wechat.say("我的货款")
    assert "货款合计 940.00 元" in payments and "待付预付款 658.00 元" in payments
    assert "没有权限" in wechat.say("茶青库存")  # a farmer sees only her own deliveries


def test_retry_returns_first_reply_and_writes_once(wechat: WeChatUser, session_factory):
    xml = wechat_xml(wechat.user, "text", {"Content": "帮助"}, msg_id=987654321)
    first = wechat.reply_of(wechat.post(xml))
    for _ in range(3):  # WeChat retries three times
        assert wechat.reply_of(wechat.post(xml)) == first
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ChatInbound).where(
            ChatInbound.channel == "wechat", ChatInbound.msg_key == "msg:987654321")) == 1


def test_bad_requests_are_refused_and_write_nothing(wechat: WeChatUser, session_factory):
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(ChatInbound))
    xml = wechat_xml(wechat.user, "text", {"Content": "帮助"})
    assert wechat.post(xml, tamper="signature").status_code == 403
    assert wechat.post(xml, tamper="msg_signature").status_code == 403
    assert wechat.post(xml, tamper="body").status_code in (400, 403)
    assert wechat.post(xml, timestamp=int(time.time()) - 3600).status_code == 403
    ts, nonce = str(int(time.time())), "n2"
    query = {"signature": _sig("wx-token", ts, nonce), "timestamp": ts, "nonce": nonce}
    plain = wechat.client.post("/bot/wechat", query_string=query, data=xml, content_type="text/xml")
    assert plain.status_code == 403  # safe mode configured: plaintext refused
    garbage = wechat.client.post("/bot/wechat", query_string={**query, "encrypt_type": "aes", "msg_signature": "x"},
                                 data="<xml><Encrypt>", content_type="text/xml")
    assert garbage.status_code in (400, 403)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ChatInbound)) == before


def test_events_dedupe_by_user_and_create_time(wechat: WeChatUser, session_factory):
    created = int(time.time())
    xml = wechat_xml(wechat.user, "event", {"Event": "subscribe"}, create_time=created)
    first = wechat.reply_of(wechat.post(xml))
    assert "欢迎使用流转" in first
    assert wechat.reply_of(wechat.post(xml)) == first
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ChatInbound).where(
            ChatInbound.msg_key == f"event:{wechat.user}:{created}")) == 1


def test_voice_uses_wechat_recognition_text(wechat: WeChatUser):
    reply = wechat.send("voice", {"MediaId": "m-voice", "Format": "amr", "Recognition": "我的货款。"})
    assert reply.startswith("听到：我的货款") and "货款合计" in reply


def test_voice_without_recognition_and_no_model_asks_to_type(wechat: WeChatUser):
    reply = wechat.send("voice", {"MediaId": "m-voice", "Format": "amr"})
    assert "语音识别未启用" in reply and "打字" in reply


def test_voice_with_model_configured_is_answered_later_by_push(app, wechat, worker_env, stub, session_factory,
                                                               demo, tmp_path, monkeypatch):
    monkeypatch.setenv("VOSK_MODEL_PATH", str(tmp_path))  # configured, but not a model: the worker says so
    cfg = app.extensions["liuzhuan_bot"]["config"]
    app.extensions["liuzhuan_bot"]["config"] = replace(cfg, vosk_model_path=str(tmp_path))
    try:
        reply = wechat.send("voice", {"MediaId": "m-voice", "Format": "amr"})
    finally:
        app.extensions["liuzhuan_bot"]["config"] = cfg
    assert "正在识别" in reply
    sent_before = len(stub.received("/cgi-bin/message/custom/send"))
    relay_pending(session_factory, limit=10_000)
    pushes = stub.received("/cgi-bin/message/custom/send")[sent_before:]
    mine = [p.json() for p in pushes if p.json()["touser"] == wechat.user]
    assert mine and "语音识别未启用" in mine[0]["text"]["content"]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "chat.voice_received")) == 1


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 60)).save(buf, "JPEG")
    return buf.getvalue()


def test_image_attaches_to_pending_entry_as_evidence(app, session_factory, demo, stub):
    from models.org import IdentityProvider
    from tests.bot.conftest import AES_KEY, bind

    # 赵经理 also follows the official account: managers may receive goods.
    openid = bind(session_factory, demo, "赵经理", IdentityProvider.WECHAT_OPENID)
    boss = WeChatUser(app.test_client(), openid, "wx-token", AES_KEY, "wx-test-app")
    MEDIA["m-photo-1"] = (_jpeg(), "image/jpeg")
    fetched_before = len(stub.received("/cgi-bin/media/get"))
    assert "没有待确认的登记" in boss.send("image", {"PicUrl": "http://x/p.jpg", "MediaId": "m-photo-1"})
    echo = boss.say("入库 茶青 特级 10公斤 李大伯 绍兴")
    assert "请确认入库" in echo and "李大伯" in echo and "特级" in echo
    assert "共 1 张" in boss.send("image", {"PicUrl": "http://x/p.jpg", "MediaId": "m-photo-1"})
    done = boss.say("确认")
    assert done.startswith("已入库 RK-SX-") and "附照片 1 张" in done
    number = re.search(r"RK-SX-\d{8}-\d{4}", done).group()
    with session_factory() as s:
        doc = s.scalar(select(Document).where(Document.org_id == demo.org_id, Document.number == number))
        assert doc is not None and "photos" not in (doc.extra or {})
        kept = s.scalars(select(EvidencePhoto).where(EvidencePhoto.document_id == doc.id)).all()
        assert [(p.source, p.party_id, p.draft_id) for p in kept] == [("wechat", doc.party_id, None)]
        assert s.scalar(select(func.count()).select_from(ChatDialog).where(ChatDialog.org_id == demo.org_id)) == 0
    fetched = stub.received("/cgi-bin/media/get")[fetched_before:]
    # Fetched once, for the pending entry (with no entry pending nothing is downloaded); the stub checks the token.
    assert [r.query["media_id"] for r in fetched] == ["m-photo-1"]
