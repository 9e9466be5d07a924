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
from bot.web import answer, bot_config, bp, fresh

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
    try:
        return parse(xml)
    except Exception:  # xmltodict/expat errors: malformed body
        log.info("malformed WeChat XML")
        abort(400)


@bp.route("/wechat", methods=["GET", "POST"])
def wechat() -> Any:
    """Official account: GET is the URL check (echostr), POST a message in plain or safe (AES) mode."""
    cfg = bot_config()
    if not cfg.wechat_token:
        abort(404)
    args = request.args
    try:
        check_signature(cfg.wechat_token, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException:
        abort(403)
    if not fresh(args.get("timestamp"), cfg.wechat_window):
        abort(403)
    if request.method == "GET":
        return Response(args.get("echostr", ""), content_type="text/plain")
    body = request.get_data(as_text=True)
    encrypted = args.get("encrypt_type") == "aes"
    if bool(cfg.wechat_aes_key) != encrypted:
        abort(403)  # safe mode configured: plaintext refused; no key: cannot decrypt
    crypto = WeChatCrypto(cfg.wechat_token, cfg.wechat_aes_key, cfg.wechat_appid) if encrypted else None
    if crypto is not None:
        try:
            body = crypto.decrypt_message(body, args.get("msg_signature", ""), args["timestamp"], args["nonce"])
        except _BAD_CRYPTO:
            abort(403)
        except Exception:
            abort(400)
    msg = _parse(parse_message, body)
    reply = answer("wechat", inbound_from_wechat("wechat", msg))
    if not reply:
        return _xml_reply("", "")
    xml = create_reply(reply, msg).render()
    if crypto is not None:
        xml = crypto.encrypt_message(xml, args["nonce"], args["timestamp"])
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
    if not fresh(timestamp, cfg.wechat_window):
        abort(403)
    try:
        if request.method == "GET":
            return Response(crypto.check_signature(signature, timestamp, nonce, args.get("echostr", "")),
                            content_type="text/plain")
        body = crypto.decrypt_message(request.get_data(as_text=True), signature, timestamp, nonce)
    except _BAD_CRYPTO:
        abort(403)
    except Exception:
        abort(400)
    msg = _parse(work_parse, body)
    reply = answer("wecom", inbound_from_wechat("wecom", msg))
    if not reply:
        return _xml_reply("", "")
    return _xml_reply(reply, crypto.encrypt_message(work_reply(reply, msg).render(), nonce, timestamp))
