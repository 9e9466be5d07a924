"""WeChat subscribe message stand-in: POST /cgi-bin/message/subscribe/send."""

from __future__ import annotations

from devstubs.server import StubRequest, StubServer


def install_wechat_subscribe(server: StubServer) -> list[dict[str, object]]:
    """Record subscribe messages; answer errcode 47003 when a template field is missing."""
    sent: list[dict[str, object]] = []

    @server.route("POST", "/cgi-bin/message/subscribe/send")
    def send(req: StubRequest) -> dict[str, object]:
        if not req.query.get("access_token", "").startswith("stub-token-"):
            return {"errcode": 40001, "errmsg": "invalid credential"}
        body = req.json() or {}
        if not body.get("touser") or not body.get("template_id") or not isinstance(body.get("data"), dict):
            return {"errcode": 47003, "errmsg": "argument invalid!"}
        sent.append(body)
        return {"errcode": 0, "errmsg": "ok", "msgid": len(sent)}

    return sent
