"""DingTalk mini-program free-login stand-in, as documented.

- ``POST /v1.0/oauth2/accessToken`` (new API) → ``{"accessToken", "expireIn"}`` (devstubs.dingtalk).
- ``POST /topapi/v2/user/getuserinfo?access_token=…`` body ``{"code"}`` →
  ``{"errcode": 0, "errmsg": "ok", "result": {"userid", "unionid", "name", "device_id", "sys": false,
  "sys_level": 0}}``; errcode 40078 "不存在的临时授权码" for an unknown or used code,
  40014 "不合法的access_token" for a bad token.
- ``POST /topapi/v2/user/get?access_token=…`` body ``{"userid"}`` →
  ``{"errcode": 0, "result": {"userid", "name", "mobile"}}``; 60121 "找不到该用户".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from devstubs.dingtalk import install_dingtalk_token
from devstubs.server import StubRequest, StubServer


@dataclass
class DingTalkAuthStub:
    app_key: str = "ding-test-key"
    app_secret: str = "ding-test-secret"
    #: userid → (name, mobile)
    users: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)

    def auth_code(self, userid: str, name: str = "钉钉用户", mobile: str | None = None) -> str:
        """Mint a one-time ``dd.getAuthCode`` code for ``userid``."""
        self.users[userid] = (name, mobile)
        code = f"auth-{secrets.token_hex(6)}"
        self.codes[code] = userid
        return code


def install_dingtalk_auth(server: StubServer, stub: DingTalkAuthStub | None = None) -> DingTalkAuthStub:
    """Add the token route and the free-login routes to ``server``."""
    stub = stub or DingTalkAuthStub()
    install_dingtalk_token(server, app_key=stub.app_key, app_secret=stub.app_secret)

    def token_ok(req: StubRequest) -> bool:
        return req.query.get("access_token", "").startswith("stub-ding-")

    @server.route("POST", "/topapi/v2/user/getuserinfo")
    def getuserinfo(req: StubRequest) -> dict[str, object]:
        if not token_ok(req):
            return {"errcode": 40014, "errmsg": "不合法的access_token"}
        userid = stub.codes.pop((req.json() or {}).get("code", ""), None)
        if userid is None:
            return {"errcode": 40078, "errmsg": "不存在的临时授权码"}
        return {"errcode": 0, "errmsg": "ok", "result": {
            "userid": userid, "unionid": f"union-{userid}", "name": stub.users[userid][0],
            "device_id": "stub-device", "sys": False, "sys_level": 0}}

    @server.route("POST", "/topapi/v2/user/get")
    def user_get(req: StubRequest) -> dict[str, object]:
        if not token_ok(req):
            return {"errcode": 40014, "errmsg": "不合法的access_token"}
        userid = (req.json() or {}).get("userid", "")
        if userid not in stub.users:
            return {"errcode": 60121, "errmsg": "找不到该用户"}
        name, mobile = stub.users[userid]
        return {"errcode": 0, "errmsg": "ok", "result": {"userid": userid, "name": name, "mobile": mobile}}

    return stub
