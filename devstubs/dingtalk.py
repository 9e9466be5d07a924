"""DingTalk server stand-in: app access token (new API) for every DingTalk call; features add routes."""

from __future__ import annotations

import secrets

from devstubs.server import StubRequest, StubResponse, StubServer


def install_dingtalk_token(server: StubServer, *, app_key: str = "ding-test-key",
                           app_secret: str = "ding-test-secret") -> None:
    """Answer POST /v1.0/oauth2/accessToken as api.dingtalk.com does."""

    @server.route("POST", "/v1.0/oauth2/accessToken")
    def token(req: StubRequest) -> StubResponse:
        body = req.json() or {}
        if body.get("appKey") != app_key or body.get("appSecret") != app_secret:
            return StubResponse(400, {"code": "invalidClientIdOrSecret", "message": "无效的appKey或appSecret"})
        return StubResponse(200, {"accessToken": f"stub-ding-{secrets.token_hex(8)}", "expireIn": 7200})
