"""WeChat server stand-in: access token (shared by every WeChat/WeCom API); features add routes."""

from __future__ import annotations

import secrets

from devstubs.server import StubRequest, StubServer


def install_wechat_token(server: StubServer, *, appid: str = "wx-test-app", secret: str = "wx-test-secret") -> None:
    """Answer GET /cgi-bin/token as WeChat does (errcode 40013/40125 on a wrong appid/secret)."""

    @server.route("GET", "/cgi-bin/token")
    def token(req: StubRequest) -> dict[str, object]:
        if req.query.get("appid") != appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if req.query.get("secret") != secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        return {"access_token": f"stub-token-{secrets.token_hex(8)}", "expires_in": 7200}
