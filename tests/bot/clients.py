"""Test clients that talk to the bot endpoints exactly as the platforms do, built with their SDKs."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
import uuid
from typing import Any

import xmltodict
from dingtalk.crypto import DingTalkCrypto
from flask.testing import FlaskClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto

from bot.dingtalk import robot_sign

_ids = itertools.count(int(time.time() * 1000))


def wechat_xml(user: str, msg_type: str, fields: dict[str, Any], *, msg_id: int | None = None,
               create_time: int | None = None, to: str = "gh_liuzhuan") -> str:
    """A message as WeChat posts it (plain XML, before safe-mode encryption)."""
    body = {"ToUserName": to, "FromUserName": user, "CreateTime": create_time or int(time.time()),
            "MsgType": msg_type, **fields}
    if msg_type != "event":
        body["MsgId"] = msg_id if msg_id is not None else next(_ids)
    return xmltodict.unparse({"xml": body}, full_document=False)


def _sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class WeChatUser:
    """A WeChat official-account follower; messages go out in safe (AES) mode."""

    path = "/bot/wechat"

    def __init__(self, client: FlaskClient, openid: str, token: str, aes_key: str, appid: str) -> None:
        self.client, self.user, self.token = client, openid, token
        self.crypto = WeChatCrypto(token, aes_key, appid)
        self.last_xml = ""

    def post(self, xml: str, *, timestamp: int | None = None, nonce: str | None = None,
             tamper: str = "") -> Any:
        """POST like WeChat: signature in the query, body encrypted by the SDK."""
        ts, nonce = str(timestamp or int(time.time())), nonce or uuid.uuid4().hex[:10]
        self.last_xml = xml
        packed = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
        encrypt, msg_sig = packed["Encrypt"], packed["MsgSignature"]
        if tamper == "body":
            encrypt = encrypt[:-8] + ("A" * 8 if not encrypt.endswith("A" * 8) else "B" * 8)
        body = xmltodict.unparse({"xml": {"ToUserName": "gh_liuzhuan", "Encrypt": encrypt}}, full_document=False)
        query = {"signature": _sha1(self.token, ts, nonce), "timestamp": ts, "nonce": nonce,
                 "openid": self.user, "encrypt_type": "aes", "msg_signature": msg_sig}
        if tamper == "signature":
            query["signature"] = "0" * 40
        if tamper == "msg_signature":
            query["msg_signature"] = "0" * 40
        resp = self.client.post(self.path, query_string=query, data=body, content_type="text/xml")
        resp.query = query  # type: ignore[attr-defined]
        return resp

    def reply_of(self, resp: Any) -> str:
        """Decrypt a safe-mode reply with the SDK and return its text ("" for "success")."""
        assert resp.status_code == 200, resp.data
        text = resp.get_data(as_text=True)
        if text == "success":
            return ""
        packed = xmltodict.parse(text)["xml"]
        plain = self.crypto.decrypt_message(text, packed["MsgSignature"], packed["TimeStamp"], packed["Nonce"])
        return xmltodict.parse(plain)["xml"]["Content"]

    def say(self, text: str, **kw: Any) -> str:
        return self.reply_of(self.post(wechat_xml(self.user, "text", {"Content": text}, **kw)))

    def send(self, msg_type: str, fields: dict[str, Any], **kw: Any) -> str:
        return self.reply_of(self.post(wechat_xml(self.user, msg_type, fields, **kw)))


class WeComUser(WeChatUser):
    """A WeCom member using the self-built app (always encrypted, msg_signature only)."""

    path = "/bot/wecom"

    def __init__(self, client: FlaskClient, userid: str, token: str, aes_key: str, corp_id: str) -> None:
        super().__init__(client, userid, token, aes_key, corp_id)
        self.crypto = WorkCrypto(token, aes_key, corp_id)  # type: ignore[assignment]

    def post(self, xml: str, *, timestamp: int | None = None, nonce: str | None = None, tamper: str = "") -> Any:
        ts, nonce = str(timestamp or int(time.time())), nonce or uuid.uuid4().hex[:10]
        packed = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
        msg_sig = "0" * 40 if tamper == "msg_signature" else packed["MsgSignature"]
        body = xmltodict.unparse({"xml": {"ToUserName": "ww-test-corp", "AgentID": "1000002",
                                          "Encrypt": packed["Encrypt"]}}, full_document=False)
        return self.client.post(self.path, query_string={"msg_signature": msg_sig, "timestamp": ts, "nonce": nonce},
                                data=body, content_type="text/xml")


class DingTalkUser:
    """A DingTalk member talking to the internal-app robot (HTTP callback mode)."""

    path = "/bot/dingtalk/robot"

    def __init__(self, client: FlaskClient, staff_id: str, app_secret: str) -> None:
        self.client, self.user, self.secret = client, staff_id, app_secret
        self._last_ts = 0

    def payload(self, text: str, msg_id: str | None = None) -> dict[str, Any]:
        return {"msgtype": "text", "text": {"content": text}, "msgId": msg_id or f"msg{uuid.uuid4().hex}",
                "createAt": int(time.time() * 1000), "conversationType": "1", "conversationId": "cid-1",
                "senderId": f"$:LWCP_v1:${self.user}", "senderNick": self.user, "senderCorpId": "ding-corp",
                "senderStaffId": self.user, "chatbotUserId": "$:LWCP_v1:$bot", "robotCode": "ding-test-key",
                "sessionWebhook": "http://127.0.0.1:1/robot/session-webhook", "isAdmin": False}

    def post(self, payload: dict[str, Any] | str, *, timestamp: int | None = None, sign: str | None = None) -> Any:
        if timestamp is None:
            # The robot's sign covers only the millisecond timestamp, and the server binds a sign to the
            # first body it came with: two test posts in one millisecond would look like a replay.
            timestamp = self._last_ts = max(int(time.time() * 1000), self._last_ts + 1)
        ts = str(timestamp)
        body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        headers = {"timestamp": ts, "sign": sign or robot_sign(ts, self.secret)}
        return self.client.post(self.path, data=body.encode(), headers=headers, content_type="application/json")

    def say(self, text: str, msg_id: str | None = None) -> str:
        resp = self.post(self.payload(text, msg_id))
        assert resp.status_code == 200, resp.data
        return (resp.get_json().get("text") or {}).get("content", "")


def ding_event(client: FlaskClient, crypto: DingTalkCrypto, event: dict[str, Any], *,
               tamper: bool = False, timestamp: int | None = None) -> Any:
    """POST an encrypted event subscription callback as DingTalk does."""
    ts = str(timestamp or int(time.time() * 1000))
    sealed = crypto.encrypt_message(json.dumps(event), nonce="nonce123", timestamp=ts)
    sig = "0" * 40 if tamper else sealed["msg_signature"]
    return client.post("/bot/dingtalk/events", query_string={"signature": sig, "timestamp": ts, "nonce": "nonce123"},
                       json={"encrypt": sealed["encrypt"]})
