"""DingTalk stand-ins for the bot: robot one-to-one messages, robot file download, session webhooks."""

from __future__ import annotations

import json

from devstubs.server import StubRequest, StubResponse, StubServer


def _authorised(req: StubRequest) -> bool:
    """Only a token the stub's own accessToken route issued (stub-ding-…), as DingTalk checks its own."""
    return req.headers.get("x-acs-dingtalk-access-token", "").strip('"').startswith("stub-ding-")


def install_robot_messages(server: StubServer, files: dict[str, bytes] | None = None) -> None:
    """Answer batchSend (oToMessages), messageFiles/download and a session webhook as DingTalk does."""
    files = {} if files is None else files  # the caller may add files later

    @server.route("POST", "/v1.0/robot/oToMessages/batchSend")
    def batch_send(req: StubRequest) -> StubResponse:
        if not _authorised(req):
            return StubResponse(401, {"code": "InvalidAuthentication", "message": "不合法的access_token"})
        body = req.json() or {}
        if not body.get("robotCode") or not body.get("userIds") or not body.get("msgKey"):
            return StubResponse(400, {"code": "MissingParameter", "message": "缺少参数"})
        json.loads(body.get("msgParam") or "{}")
        return StubResponse(200, {"processQueryKey": "stub-query-key", "invalidStaffIdList": [],
                                  "flowControlledStaffIdList": []})

    @server.route("POST", "/v1.0/robot/messageFiles/download")
    def download(req: StubRequest) -> StubResponse:
        if not _authorised(req):
            return StubResponse(401, {"code": "InvalidAuthentication", "message": "不合法的access_token"})
        code = (req.json() or {}).get("downloadCode", "")
        if code not in files:
            return StubResponse(400, {"code": "invalidDownloadCode", "message": "downloadCode无效"})
        return StubResponse(200, {"downloadUrl": f"{server.base_url}/stub-files?code={code}"})

    @server.route("GET", "/stub-files")
    def file(req: StubRequest) -> StubResponse:
        data = files.get(req.query.get("code", ""))
        if data is None:
            return StubResponse(404, b"", content_type="text/plain")
        return StubResponse(200, data, content_type="application/octet-stream")

    @server.route("POST", "/robot/session-webhook")
    def session_webhook(req: StubRequest) -> dict[str, object]:
        return {"errcode": 0, "errmsg": "ok"}
