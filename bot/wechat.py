"""WeChat official account and WeCom self-built app callbacks (wechatpy): handshake, signature, AES."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, abort, request
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import create_reply as work_reply
from wechatpy.enterprise import parse_message as work_parse
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.engine import Inbound
from bot.web import (
    BadSignature,
    MalformedCallback,
    PlainModeRefused,
    answer,
    bot_config,
    bp,
    remember_signature,
    require_fresh,
)

log = logging.getLogger(__name__)
_BAD_CRYPTO = (InvalidSignatureException, InvalidAppIdException, InvalidCorpIdException)


def inbound_from_wechat(channel: str, msg: Any) -> Inbound:
    """Our Inbound from a wechatpy message or event (official account or WeCom)."""
    user = msg.source
    if msg.type == "event":
        return Inbound(channel, user, f"event:{user}:{msg.time}", kind="event", event=str(msg.event))
    key = f"msg:{msg.id}"
    if msg.type == "text":
        return Inbound(channel, user, key, text=msg.content)
    if msg.type == "voice":
        return Inbound(channel, user, key, kind="voice", media_id=msg.media_id,
                       recognition=(getattr(msg, "recognition", None) or "").strip())
    if msg.type == "image":
        return Inbound(channel, user, key, kind="image", media_id=msg.media_id)
    return Inbound(channel, user, key, kind="other")


def _xml_reply(text: str, body: str) -> Response:
    return Response(body if text else "success", content_type="application/xml" if text else "text/plain")


def _parse(parse: Any, xml: str) -> Any:
    """Parse a message; an empty, malformed or incomplete one is refused 400, never a 500."""
    try:
        msg = parse(xml)
    except Exception:  # xmltodict/expat errors, or wechatpy tripping over odd field types
        log.info("malformed WeChat XML")
        raise MalformedCallback() from None
    if msg is None or not isinstance(msg.source, str) or not msg.source.strip():
        raise MalformedCallback("回调缺少发送者")
    if msg.type != "event" and not msg.id:
        raise MalformedCallback("回调缺少消息编号")
    if msg.type == "text" and not isinstance(msg.content, str):
        raise MalformedCallback("文本消息缺少内容")
    if msg.type in ("voice", "image") and not isinstance(msg.media_id, str):
        raise MalformedCallback("媒体消息缺少 MediaId")
    return msg


@bp.route("/wechat", methods=["GET", "POST"])
def wechat() -> Any:
    """Official account: GET is the URL check (echostr), POST a message in plain or safe (AES) mode."""
    cfg = bot_config()
    if not cfg.wechat_token:
        abort(404)
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    try:
        check_signature(cfg.wechat_token, args.get("signature", ""), timestamp, nonce)
    except InvalidSignatureException:
        raise BadSignature() from None
    require_fresh(timestamp, cfg.wechat_window)
    if request.method == "GET":
        return Response(args.get("echostr", ""), content_type="text/plain")
    raw = request.get_data()
    encrypted = args.get("encrypt_type") == "aes"
    if cfg.wechat_aes_key and not encrypted:
        raise PlainModeRefused()  # plain mode's signature does not cover the message
    if encrypted and not cfg.wechat_aes_key:
        raise MalformedCallback("未配置安全模式密钥，无法解密")
    body = raw.decode("utf-8", errors="replace")
    crypto = WeChatCrypto(cfg.wechat_token, cfg.wechat_aes_key, cfg.wechat_appid) if encrypted else None
    if crypto is not None:
        try:
            body = crypto.decrypt_message(body, args.get("msg_signature", ""), timestamp, nonce)
        except _BAD_CRYPTO:
            raise BadSignature() from None
        except Exception:
            raise MalformedCallback() from None
    # The signature is verified: it now belongs to this body (WeChat's own retries resend it).
    remember_signature("wechat", f"{timestamp}:{nonce}", raw, cfg.wechat_window)
    msg = _parse(parse_message, body)
    reply = answer("wechat", inbound_from_wechat("wechat", msg))
    if not reply:
        return _xml_reply("", "")
    xml = create_reply(reply, msg).render()
    if crypto is not None:
        xml = crypto.encrypt_message(xml, nonce, timestamp)
    return _xml_reply(reply, xml)


@bp.route("/wecom", methods=["GET", "POST"])
def wecom() -> Any:
    """WeCom self-built app: GET decrypts echostr (URL check), POST is always encrypted."""
    cfg = bot_config()
    if not cfg.wecom_token:
        abort(404)
    args = request.args
    crypto = WorkCrypto(cfg.wecom_token, cfg.wecom_aes_key, cfg.wecom_corp_id)
    signature, timestamp, nonce = args.get("msg_signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    require_fresh(timestamp, cfg.wechat_window)
    try:
        if request.method == "GET":
            return Response(crypto.check_signature(signature, timestamp, nonce, args.get("echostr", "")),
                            content_type="text/plain")
        body = crypto.decrypt_message(request.get_data(as_text=True), signature, timestamp, nonce)
    except _BAD_CRYPTO:
        raise BadSignature() from None
    except Exception:
        raise MalformedCallback() from None
    msg = _parse(work_parse, body)
    reply = answer("wecom", inbound_from_wechat("wecom", msg))
    if not reply:
        return _xml_reply("", "")
    return _xml_reply(reply, crypto.encrypt_message(work_reply(reply, msg).render(), nonce, timestamp))
