"""Finding 4 (and 14, bot part): platform callbacks cannot be replayed to impersonate anyone, plain
mode is refused in production, access logs never print a signature, bad bodies answer 400.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.factory import create_app
from app.hardening import install_log_redaction
from models.chat import CallbackSignature, ChatInbound
from models.errors import ValidationError
from models.org import IdentityProvider
from tests.bot.clients import DingTalkUser, wechat_xml
from tests.bot.conftest import AES_KEY, bind
from tests.security.conftest import assert_refused, rows

STRONG_SECRET = "k3Jx9Qz7Lp2Vb8Nw4Rt6Ys1Ud5Fg0Hh-Strong"
PRODUCTION = {"LIUZHUAN_ENV": "production", "SECRET_KEY": STRONG_SECRET, "PUBLIC_BASE_URL": "https://lz.example.cn"}


def _env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "media"), "VOSK_MODEL_PATH": "",
            "LIUZHUAN_VAR_DIR": str(tmp_path), "LIUZHUAN_RELAY_KICK": "0",
            "WECHAT_TOKEN": "wx-token", "WECHAT_APPID": "wx-test-app", "WECHAT_SECRET": "wx-test-secret",
            "DINGTALK_APP_KEY": "ding-test-key", "DINGTALK_APP_SECRET": "ding-test-secret", **extra}


@pytest.fixture
def plain_app(database_url: str, tmp_path: Path) -> Flask:
    """The official account in plain mode (no AES key), as a development install runs it."""
    return create_app(_env(database_url, tmp_path, WECHAT_AES_KEY=""))


def _sig(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _inbound(session_factory: Any, channel: str) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(ChatInbound).where(ChatInbound.channel == channel)) or 0


def test_wechat_plain_signature_replayed_with_another_sender_is_refused(plain_app, session_factory, demo, engine):
    wang = bind(session_factory, demo, "王阿姨", IdentityProvider.WECHAT_OPENID)
    client = plain_app.test_client()
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    query = {"signature": _sig("wx-token", ts, nonce), "timestamp": ts, "nonce": nonce}
    genuine = wechat_xml("o-someone-else", "text", {"Content": "帮助"})
    assert client.post("/bot/wechat", query_string=query, data=genuine, content_type="text/xml").status_code == 200
    # WeChat's own retry carries the same body: still answered (and deduped by MsgId).
    assert client.post("/bot/wechat", query_string=query, data=genuine, content_type="text/xml").status_code == 200
    before, inbound_before = rows(engine), _inbound(session_factory, "wechat")
    forged = wechat_xml(wang, "text", {"Content": "我的货款"})
    resp = client.post("/bot/wechat", query_string=query, data=forged, content_type="text/xml")
    assert_refused(resp, 403, "REPLAYED_REQUEST", "签名已经用过")
    assert "货款" not in resp.get_data(as_text=True)
    assert rows(engine) == before and _inbound(session_factory, "wechat") == inbound_before


def test_dingtalk_robot_sign_replayed_as_the_director_is_refused(plain_app, session_factory, demo, engine):
    client = plain_app.test_client()
    sun = DingTalkUser(client, bind(session_factory, demo, "老孙", IdentityProvider.DINGTALK_USERID),
                       "ding-test-secret")
    qian = DingTalkUser(client, bind(session_factory, demo, "钱总监", IdentityProvider.DINGTALK_USERID),
                        "ding-test-secret")
    ts = int(time.time() * 1000)
    assert sun.post(sun.payload("帮助"), timestamp=ts).status_code == 200  # the captured request
    before, inbound_before = rows(engine), _inbound(session_factory, "dingtalk")
    # Same (timestamp, sign) headers, another sender and an approval in the body.
    resp = qian.post(qian.payload("同意 DB-SX-20261204-0001"), timestamp=ts)
    assert_refused(resp, 403, "REPLAYED_REQUEST", "签名已经用过")
    assert rows(engine) == before and _inbound(session_factory, "dingtalk") == inbound_before


def test_dingtalk_robot_window_is_five_minutes_not_an_hour(plain_app, session_factory, demo, engine):
    sun = DingTalkUser(plain_app.test_client(), bind(session_factory, demo, "老孙", IdentityProvider.DINGTALK_USERID),
                       "ding-test-secret")
    before = rows(engine)
    resp = sun.post(sun.payload("帮助"), timestamp=int(time.time() * 1000) - 10 * 60 * 1000)
    assert_refused(resp, 403, "STALE_REQUEST", "时间戳")
    assert rows(engine) == before


def test_expired_signatures_are_pruned(plain_app, session_factory, demo):
    from datetime import timedelta

    from models.base import utcnow

    with session_factory() as s:
        s.add(CallbackSignature(channel="wechat", sig_key=f"old:{uuid.uuid4().hex}", body_digest="0" * 64,
                                expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    plain_app.test_client().post("/bot/wechat", query_string={
        "signature": _sig("wx-token", ts, nonce), "timestamp": ts, "nonce": nonce},
        data=wechat_xml("o-x", "text", {"Content": "帮助"}), content_type="text/xml")
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(CallbackSignature).where(
            CallbackSignature.expires_at < utcnow())) == 0


def test_production_refuses_plain_mode_config_at_start(database_url, tmp_path):
    with pytest.raises(ValidationError) as refused:
        create_app(_env(database_url, tmp_path, WECHAT_AES_KEY="", **PRODUCTION))
    assert refused.value.code == "VALIDATION_ERROR" and refused.value.details["field"] == "WECHAT_AES_KEY"
    assert "安全模式" in refused.value.message


def test_production_refuses_a_plain_mode_callback(database_url, tmp_path, engine):
    app = create_app(_env(database_url, tmp_path, WECHAT_AES_KEY=AES_KEY, **PRODUCTION))
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    before = rows(engine)
    resp = app.test_client().post("/bot/wechat", query_string={
        "signature": _sig("wx-token", ts, nonce), "timestamp": ts, "nonce": nonce},
        data=wechat_xml("o-anyone", "text", {"Content": "帮助"}), content_type="text/xml")
    assert_refused(resp, 403, "PLAIN_MODE_REFUSED", "安全模式")
    assert rows(engine) == before


@pytest.mark.parametrize("body", ["", "<xml></xml>", "<xml><MsgType>text</MsgType></xml>",
                                  "<xml><MsgType><a>1</a></MsgType></xml>", "<a>1</a>"])
def test_wechat_bad_body_after_a_valid_signature_is_400(plain_app, engine, body):
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    before = rows(engine, ignore=["callback_signatures"])
    resp = plain_app.test_client().post("/bot/wechat", query_string={
        "signature": _sig("wx-token", ts, nonce), "timestamp": ts, "nonce": nonce}, data=body, content_type="text/xml")
    assert_refused(resp, 400, "MALFORMED_CALLBACK", "回调")
    assert rows(engine, ignore=["callback_signatures"]) == before


@pytest.mark.parametrize("body", ["", "[]", "null", "\xff", '{"msgId": "m1", "senderStaffId": "u1", "text": "x"}',
                                  '{"msgId": {"a": 1}, "senderStaffId": "u1"}'])
def test_dingtalk_bad_body_after_a_valid_sign_is_400(plain_app, engine, body):
    user = DingTalkUser(plain_app.test_client(), "u1", "ding-test-secret")
    before = rows(engine, ignore=["callback_signatures"])
    assert_refused(user.post(body), 400, "MALFORMED_CALLBACK", "回调")
    assert rows(engine, ignore=["callback_signatures"]) == before


def test_access_log_never_prints_signatures(plain_app, caplog):
    """A real request through Werkzeug's server: its access-log line keeps the path, not the secrets."""
    server = make_server("127.0.0.1", 0, plain_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ts, nonce = str(int(time.time())), "n0nce-secret"
    signature = _sig("wx-token", ts, nonce)
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            got = requests.get(f"http://127.0.0.1:{server.server_port}/bot/wechat", timeout=10, params={
                "signature": signature, "timestamp": ts, "nonce": nonce, "echostr": "e1", "msg_signature": "abc123",
                "sign": "s3cr3t", "token": "t0ken"})
            assert got.status_code == 200
            deadline = time.monotonic() + 5
            while "/bot/wechat" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.01)  # the server thread logs after answering; wait for that line, bounded
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert "/bot/wechat?" in caplog.text
    for secret in (signature, nonce, "abc123", "s3cr3t", "t0ken"):
        assert secret not in caplog.text
    assert "signature=[redacted]" in caplog.text


def test_gunicorn_access_log_atoms_are_redacted():
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s', None, None)
    record.args = {"h": "10.0.0.1", "r": "POST /bot/wechat?signature=abc&timestamp=1&nonce=xyz HTTP/1.1",
                   "q": "signature=abc&timestamp=1&nonce=xyz", "s": "200"}
    install_log_redaction()
    assert logging.getLogger("gunicorn.access").filter(record)
    line = record.getMessage()
    assert "abc" not in line and "xyz" not in line and "timestamp=1" in line
