"""WeChat / WeCom stand-ins for the bots: WeCom token, temporary media, customer-service and app messages."""

from __future__ import annotations

import secrets

from devstubs.server import StubRequest, StubResponse, StubServer


def install_wecom_token(server: StubServer, *, corp_id: str = "ww-test-corp", secret: str = "ww-test-secret") -> None:
    """Answer GET /cgi-bin/gettoken as qyapi.weixin.qq.com does (40013 invalid corpid, 40001 bad secret)."""

    @server.route("GET", "/cgi-bin/gettoken")
    def token(req: StubRequest) -> dict[str, object]:
        if req.query.get("corpid") != corp_id:
            return {"errcode": 40013, "errmsg": "invalid corpid"}
        if req.query.get("corpsecret") != secret:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        return {"errcode": 0, "errmsg": "ok", "access_token": f"stub-wecom-{secrets.token_hex(8)}",
                "expires_in": 7200}


#: Prefixes of the access tokens the stub's token routes hand out (official account, WeCom).
ISSUED_TOKEN_PREFIXES = ("stub-token-", "stub-wecom-")


def _token_error(req: StubRequest) -> dict[str, object] | None:
    """The platforms' answer to a missing (41001) or unknown (40001) access_token; None when it is ours."""
    token = req.query.get("access_token", "")
    if not token:
        return {"errcode": 41001, "errmsg": "access_token missing"}
    if not token.startswith(ISSUED_TOKEN_PREFIXES):
        return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
    return None


def install_media(server: StubServer, files: dict[str, tuple[bytes, str]]) -> None:
    """Serve GET /cgi-bin/media/get?media_id=… (both platforms): the file, or errcode 40007."""

    @server.route("GET", "/cgi-bin/media/get")
    def media(req: StubRequest) -> StubResponse:
        if (error := _token_error(req)) is not None:
            return StubResponse(200, error)
        found = files.get(req.query.get("media_id", ""))
        if found is None:
            return StubResponse(200, {"errcode": 40007, "errmsg": "invalid media_id"})
        data, content_type = found
        return StubResponse(200, data, content_type=content_type,
                            headers={"Content-Disposition": 'attachment; filename="media"'})


def install_message_send(server: StubServer) -> None:
    """Accept POST /cgi-bin/message/custom/send (official account) and /cgi-bin/message/send (WeCom)."""

    def accept(req: StubRequest) -> dict[str, object]:
        if (error := _token_error(req)) is not None:
            return error
        body = req.json() or {}
        if body.get("msgtype") != "text" or not (body.get("text") or {}).get("content"):
            return {"errcode": 44004, "errmsg": "empty content"}
        return {"errcode": 0, "errmsg": "ok"}

    server.route("POST", "/cgi-bin/message/custom/send")(accept)
    server.route("POST", "/cgi-bin/message/send")(accept)
