"""DingTalk: robot message callbacks (HMAC-signed) and encrypted event subscriptions (DingTalkCrypto)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

from dingtalk.core.exceptions import InvalidCorpIdOrSuiteKeyException, InvalidSignatureException
from dingtalk.crypto import DingTalkCrypto
from flask import abort, current_app, jsonify, request

from bot.engine import Inbound
from bot.web import BadSignature, MalformedCallback, answer, bot_config, bp, remember_signature, require_fresh
from models.chat import claim_inbound, inbound_reply

log = logging.getLogger(__name__)


def robot_sign(timestamp: str, app_secret: str) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, timestamp + "\\n" + secret))."""
    digest = hmac.new(app_secret.encode(), f"{timestamp}\n{app_secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def inbound_from_robot(payload: dict[str, Any]) -> Inbound:
    """Our Inbound from a robot message (HTTP callback body or Stream-mode data: same JSON)."""
    user = str(payload.get("senderStaffId") or payload.get("senderId") or "")
    key = f"msg:{payload.get('msgId') or ''}"
    kind = payload.get("msgtype")
    content = payload.get("content")
    content = content if isinstance(content, dict) else {}
    if kind == "text":
        return Inbound("dingtalk", user, key, text=str((payload.get("text") or {}).get("content", "")))
    if kind == "audio":
        return Inbound("dingtalk", user, key, kind="voice", media_id=str(content.get("downloadCode", "")),
                       recognition=str(content.get("recognition", "")).strip())
    if kind == "picture":
        return Inbound("dingtalk", user, key, kind="image", media_id=str(content.get("downloadCode", "")))
    return Inbound("dingtalk", user, key, kind="other")


def robot_payload(raw: bytes) -> dict[str, Any]:
    """Decode a robot message body; an empty, malformed or incomplete one is refused 400."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise MalformedCallback() from None
    if not isinstance(payload, dict):
        raise MalformedCallback()
    for field in ("msgId", "senderStaffId"):
        if not isinstance(payload.get(field), str | int) or not str(payload[field]).strip():
            raise MalformedCallback(f"回调缺少 {field}")
    for field in ("text", "content"):
        if payload.get(field) is not None and not isinstance(payload[field], dict):
            raise MalformedCallback(f"回调的 {field} 格式不对")
    return payload


@bp.route("/dingtalk/robot", methods=["POST"])
def dingtalk_robot() -> Any:
    """Robot messages: check the sign header and its timestamp, answer in the response body."""
    cfg = bot_config()
    if not cfg.dingtalk_app_secret:
        abort(404)
    timestamp, sign = request.headers.get("timestamp", ""), request.headers.get("sign", "")
    if not hmac.compare_digest(sign.encode(), robot_sign(timestamp, cfg.dingtalk_app_secret).encode()):
        raise BadSignature()
    require_fresh(timestamp, cfg.dingtalk_window, millis=True)
    raw = request.get_data()
    # The sign covers only the timestamp: bind it to the first body it came with.
    remember_signature("dingtalk", f"{timestamp}:{sign}", raw, cfg.dingtalk_window)
    reply = answer("dingtalk", inbound_from_robot(robot_payload(raw)))
    if not reply:
        return jsonify({})
    return jsonify({"msgtype": "text", "text": {"content": reply}})


@bp.route("/dingtalk/events", methods=["POST"])
def dingtalk_events() -> Any:
    """Event subscription: decrypt, answer check_url, dedupe redeliveries, reply encrypted "success"."""
    cfg = bot_config()
    if not cfg.dingtalk_event_token:
        abort(404)
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    require_fresh(timestamp, cfg.dingtalk_event_window, millis=True)
    crypto = DingTalkCrypto(cfg.dingtalk_event_token, cfg.dingtalk_event_aes_key, cfg.dingtalk_app_key)
    try:
        body = json.loads(request.get_data(as_text=True))
        plain = crypto.decrypt_message(body, args.get("signature", ""), timestamp, nonce)
        event = json.loads(plain)
    except (InvalidSignatureException, InvalidCorpIdOrSuiteKeyException):
        raise BadSignature() from None
    except Exception:
        raise MalformedCallback() from None
    if not isinstance(event, dict):
        raise MalformedCallback()
    kind = str(event.get("EventType", ""))
    if kind != "check_url":
        key = f"event:{hashlib.sha256(plain.encode() if isinstance(plain, str) else plain).hexdigest()}"
        factory = current_app.extensions["liuzhuan"]["session_factory"]
        with factory() as session:
            if inbound_reply(session, "dingtalk_event", key) is None:
                claim_inbound(session, "dingtalk_event", key, str(event.get("CorpId", "")))
                log.info("DingTalk event %s", kind)
                session.commit()
    return jsonify(crypto.encrypt_message("success"))
