"""WeChat mini-program login stand-in: jscode2session and getuserphonenumber, as documented.

- ``GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`` →
  ``{"openid", "session_key", "unionid"?}``; errcode 40029 "invalid code" for an unknown code,
  40163 "code been used" for a second use, 40013 "invalid appid", 40125 "invalid appsecret".
- ``POST /wxa/business/getuserphonenumber?access_token=…`` body ``{"code"}`` →
  ``{"errcode": 0, "errmsg": "ok", "phone_info": {"phoneNumber", "purePhoneNumber", "countryCode",
  "watermark": {"timestamp", "appid"}}}``; errcode 40029 for an unknown code, 40001 for a bad token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from devstubs.server import StubRequest, StubServer
from devstubs.wechat import install_wechat_token


@dataclass
class MiniProgramStub:
    """Login codes (code → openid, unionid) and phone codes (code → phone) the stub accepts."""

    appid: str = "wx-test-app"
    secret: str = "wx-test-secret"
    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    phone_codes: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def login_code(self, openid: str, unionid: str | None = None) -> str:
        """Mint a one-time ``wx.login`` code for ``openid``."""
        code = f"code-{secrets.token_hex(6)}"
        self.codes[code] = (openid, unionid)
        return code

    def phone_code(self, phone: str) -> str:
        """Mint a ``getPhoneNumber`` code for ``phone``."""
        code = f"phone-{secrets.token_hex(6)}"
        self.phone_codes[code] = phone
        return code


def install_wechat_miniprogram(server: StubServer, stub: MiniProgramStub | None = None) -> MiniProgramStub:
    """Add the token route and the two mini-program login routes to ``server``."""
    stub = stub or MiniProgramStub()
    install_wechat_token(server, appid=stub.appid, secret=stub.secret)

    @server.route("GET", "/sns/jscode2session")
    def jscode2session(req: StubRequest) -> dict[str, object]:
        if req.query.get("appid") != stub.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if req.query.get("secret") != stub.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        code = req.query.get("js_code", "")
        if code in stub.used:
            return {"errcode": 40163, "errmsg": "code been used"}
        if code not in stub.codes:
            return {"errcode": 40029, "errmsg": "invalid code"}
        stub.used.add(code)
        openid, unionid = stub.codes[code]
        body: dict[str, object] = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        if unionid:
            body["unionid"] = unionid
        return body

    @server.route("POST", "/wxa/business/getuserphonenumber")
    def phone(req: StubRequest) -> dict[str, object]:
        if not req.query.get("access_token", "").startswith("stub-token-"):
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        phone = stub.phone_codes.get((req.json() or {}).get("code", ""))
        if phone is None:
            return {"errcode": 40029, "errmsg": "invalid code"}
        return {"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": stub.appid}}}

    return stub
