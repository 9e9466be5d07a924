"""Stand-ins for the platforms' website QR sign-in (the manager console's 钉钉扫码 / 微信扫码).

Browser pages (they replace the platforms' QR pages; a form "模拟扫码：选择用户" plays the phone's scan):

- ``GET /oauth2/auth?redirect_uri&response_type=code&client_id&scope=openid&state&prompt`` (login.dingtalk.com)
  → the QR page; ``GET /oauth2/auth/scan?…&userid=`` → 302 ``redirect_uri?authCode=…&state=…``.
- ``GET /connect/qrconnect?appid&redirect_uri&response_type=code&scope=snsapi_login&state`` (open.weixin.qq.com)
  → the QR page; ``GET /connect/qrconnect/scan?…&openid=&unionid=`` → 302 ``redirect_uri?code=…&state=…``.

Server APIs, as documented:

- ``POST /v1.0/oauth2/userAccessToken`` {clientId, clientSecret, code, grantType} → {accessToken, refreshToken,
  expireIn, corpId}; 400 {"code": "invalidAuthCode"} for an unknown or used code.
- ``GET /v1.0/contact/users/me`` (header x-acs-dingtalk-access-token: the user token) → {nick, unionId, openId, …}.
- ``POST /topapi/user/getbyunionid?access_token=`` {unionid} → {errcode 0, result: {contact_type: 0, userid}};
  60121 "找不到该用户" for a unionid outside the organisation.
- ``GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`` → {access_token, expires_in,
  refresh_token, openid, scope, unionid}; 40029 invalid code, 40163 code been used.

Each DingTalk userid ``u`` has the unionid ``web-union-u`` (unless the stub says otherwise).
"""

from __future__ import annotations

import base64
import html
import io
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg

from devstubs.server import StubRequest, StubResponse, StubServer


@dataclass
class WebLoginStub:
    ding_key: str = "ding-test-key"
    ding_secret: str = "ding-test-secret"
    wechat_appid: str = "wx-web-app"
    wechat_secret: str = "wx-web-secret"
    #: DingTalk authCode → userid; user token → userid; unionid → userid (the organisation's directory).
    ding_codes: dict[str, str] = field(default_factory=dict)
    ding_tokens: dict[str, str] = field(default_factory=dict)
    #: userids not in the organisation (a stranger scanning): getbyunionid answers 60121.
    ding_strangers: set[str] = field(default_factory=set)
    #: WeChat code → (openid, unionid); codes already used.
    wechat_codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    wechat_used: set[str] = field(default_factory=set)

    def dingtalk_code(self, userid: str) -> str:
        """Mint the authCode DingTalk would hand our callback after ``userid`` scanned."""
        code = f"web-auth-{secrets.token_hex(6)}"
        self.ding_codes[code] = userid
        return code

    def wechat_code(self, openid: str, unionid: str | None = None) -> str:
        code = f"web-code-{secrets.token_hex(6)}"
        self.wechat_codes[code] = (openid, unionid)
        return code


def _qr_svg(text: str) -> str:
    """The QR code of ``text`` as an <img> with an SVG data URL (no script, no CDN)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = io.BytesIO()
    image.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _page(title: str, authorize_url: str, action: str, hidden: dict[str, str], fields: str) -> StubResponse:
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in hidden.items())
    body = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:24rem;margin:1rem auto;padding:0 1rem}}img{{width:12rem;height:12rem}}
label{{display:block;margin:.5rem 0 .2rem}}
input,button{{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}}</style>
</head><body><main><h1>{title}</h1><p>平台模拟服务：请用手机扫码（本地模拟不会真的扫码）。</p>
<img src="{_qr_svg(authorize_url)}" alt="登录二维码">
<form method="get" action="{action}"><h2>模拟扫码：选择用户</h2>{inputs}{fields}
<button type="submit">模拟扫码并确认登录</button></form></main></body></html>"""
    return StubResponse(200, body.encode(), content_type="text/html; charset=utf-8")


def _back(redirect_uri: str, params: dict[str, str]) -> StubResponse:
    glue = "&" if "?" in redirect_uri else "?"
    return StubResponse(302, b"", content_type="text/plain",
                        headers={"Location": f"{redirect_uri}{glue}{urlencode(params)}"})


def install_web_login(server: StubServer, stub: WebLoginStub | None = None) -> WebLoginStub:
    """Add the two QR pages and the server APIs of both web sign-ins (DingTalk's app token is not added:
    install_dingtalk_token / install_dingtalk_auth serve it)."""
    stub = stub or WebLoginStub()

    @server.route("GET", "/oauth2/auth")
    def ding_page(req: StubRequest) -> StubResponse:
        q = req.query
        if q.get("client_id") != stub.ding_key or not q.get("redirect_uri") or q.get("response_type") != "code":
            return StubResponse(400, b"invalid client_id or redirect_uri", content_type="text/plain")
        url = f"{server.base_url}/oauth2/auth?{urlencode(q)}"
        return _page("钉钉扫码登录", url, "/oauth2/auth/scan",
                     {"redirect_uri": q["redirect_uri"], "state": q.get("state", "")},
                     '<label for="userid">钉钉用户（userid）</label>'
                     '<input id="userid" name="userid" value="zhao" required>')

    @server.route("GET", "/oauth2/auth/scan")
    def ding_scan(req: StubRequest) -> StubResponse:
        code = stub.dingtalk_code(req.query.get("userid", "zhao"))
        return _back(req.query["redirect_uri"], {"authCode": code, "state": req.query.get("state", "")})

    @server.route("POST", "/v1.0/oauth2/userAccessToken")
    def user_token(req: StubRequest) -> StubResponse:
        body = req.json() or {}
        if body.get("clientId") != stub.ding_key or body.get("clientSecret") != stub.ding_secret:
            return StubResponse(400, {"code": "invalidClientIdOrSecret", "message": "无效的clientId或clientSecret"})
        userid = stub.ding_codes.pop(str(body.get("code") or ""), None)
        if userid is None or body.get("grantType") != "authorization_code":
            return StubResponse(400, {"code": "invalidAuthCode", "message": "不合法的临时授权码"})
        token = f"stub-user-{secrets.token_hex(8)}"
        stub.ding_tokens[token] = userid
        return StubResponse(200, {"accessToken": token, "refreshToken": secrets.token_hex(8), "expireIn": 7200,
                                  "corpId": "ding-stub-corp"})

    @server.route("GET", "/v1.0/contact/users/me")
    def users_me(req: StubRequest) -> StubResponse:
        userid = stub.ding_tokens.get(req.headers.get("x-acs-dingtalk-access-token", "").strip('"'))
        if userid is None:
            return StubResponse(401, {"code": "InvalidAuthentication", "message": "不合法的access_token"})
        return StubResponse(200, {"nick": f"钉钉用户{userid}", "unionId": f"web-union-{userid}",
                                  "openId": f"web-open-{userid}", "stateCode": "86"})

    @server.route("POST", "/topapi/user/getbyunionid")
    def getbyunionid(req: StubRequest) -> dict[str, object]:
        if not req.query.get("access_token", "").startswith("stub-ding-"):
            return {"errcode": 40014, "errmsg": "不合法的access_token"}
        unionid = str((req.json() or {}).get("unionid") or "")
        userid = unionid.removeprefix("web-union-")
        if not unionid.startswith("web-union-") or userid in stub.ding_strangers:
            return {"errcode": 60121, "errmsg": "找不到该用户"}
        return {"errcode": 0, "errmsg": "ok", "result": {"contact_type": 0, "userid": userid},
                "request_id": secrets.token_hex(6)}

    @server.route("GET", "/connect/qrconnect")
    def wechat_page(req: StubRequest) -> StubResponse:
        q = req.query
        if q.get("appid") != stub.wechat_appid or not q.get("redirect_uri") or q.get("scope") != "snsapi_login":
            return StubResponse(400, b"invalid appid, redirect_uri or scope", content_type="text/plain")
        url = f"{server.base_url}/connect/qrconnect?{urlencode(q)}#wechat_redirect"
        return _page("微信扫码登录", url, "/connect/qrconnect/scan",
                     {"redirect_uri": q["redirect_uri"], "state": q.get("state", "")},
                     '<label for="openid">微信用户（openid）</label>'
                     '<input id="openid" name="openid" value="web-openid-zhao" required>'
                     '<label for="unionid">unionid（可空）</label><input id="unionid" name="unionid" value="">')

    @server.route("GET", "/connect/qrconnect/scan")
    def wechat_scan(req: StubRequest) -> StubResponse:
        code = stub.wechat_code(req.query.get("openid", "web-openid-zhao"), req.query.get("unionid") or None)
        return _back(req.query["redirect_uri"], {"code": code, "state": req.query.get("state", "")})

    @server.route("GET", "/sns/oauth2/access_token")
    def sns_token(req: StubRequest) -> dict[str, object]:
        q = req.query
        if q.get("appid") != stub.wechat_appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if q.get("secret") != stub.wechat_secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        code = q.get("code", "")
        if code in stub.wechat_used:
            return {"errcode": 40163, "errmsg": "code been used"}
        if code not in stub.wechat_codes or q.get("grant_type") != "authorization_code":
            return {"errcode": 40029, "errmsg": "invalid code"}
        stub.wechat_used.add(code)
        openid, unionid = stub.wechat_codes[code]
        body: dict[str, object] = {"access_token": secrets.token_hex(8), "expires_in": 7200,
                                   "refresh_token": secrets.token_hex(8), "openid": openid, "scope": "snsapi_login"}
        if unionid:
            body["unionid"] = unionid
        return body

    return stub


def sent_texts(server: StubServer) -> list[tuple[str, str]]:
    """(chat user id, text) of every text message the bots' push reached the stub with, oldest first:
    DingTalk robot one-to-one messages, WeCom app messages and WeChat customer-service messages."""
    out: list[tuple[str, str]] = []
    for req in server.requests:
        body = req.json() if req.body else None
        if not isinstance(body, dict):
            continue
        if req.path == "/v1.0/robot/oToMessages/batchSend":
            text = json.loads(body.get("msgParam") or "{}").get("content", "")
            out.extend((user, text) for user in body.get("userIds") or [])
        elif req.path in ("/cgi-bin/message/send", "/cgi-bin/message/custom/send"):
            out.append((str(body.get("touser") or ""), str((body.get("text") or {}).get("content") or "")))
    return out
