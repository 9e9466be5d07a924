"""Run every platform stand-in on one local port: `python -m devstubs [--port 8900]` (or `make stubs`).

Point the app at it with WECHAT_API_BASE, DINGTALK_API_BASE and LIUZHUAN_PLATFORM_API_BASE
(http://127.0.0.1:8900) and the stubs' credentials (printed at start). Login codes are minted over
HTTP, as the phone's wx.login / dd.getAuthCode would: ``POST /__stub/wechat/login-code {"openid"}``,
``POST /__stub/wechat/phone-code {"phone"}``, ``POST /__stub/dingtalk/auth-code {"userid", "name", "mobile"}``;
``GET /__stub/requests`` lists what the stubs received (newest last), ``GET /__stub/messages`` the chat
messages the bots pushed (the console's sign-in codes among them). The console's QR sign-in pages are
``/oauth2/auth`` (DingTalk) and ``/connect/qrconnect`` (WeChat): DINGTALK_LOGIN_BASE and WECHAT_OPEN_BASE.
"""

from __future__ import annotations

import argparse
import threading

from devstubs.dingtalk_auth import DingTalkAuthStub, install_dingtalk_auth
from devstubs.dingtalk_cards import install_dingtalk_cards
from devstubs.dingtalk_robot import install_robot_messages
from devstubs.server import StubRequest, StubServer
from devstubs.web_login import WebLoginStub, install_web_login, sent_texts
from devstubs.wechat_messages import install_media, install_message_send, install_wecom_token
from devstubs.wechat_miniprogram import MiniProgramStub, install_wechat_miniprogram
from devstubs.wechat_subscribe import install_wechat_subscribe

#: The environment that makes `make run` talk to these stubs (the stubs' default credentials).
ENV = {
    "WECHAT_MINIPROGRAM_APP_ID": "wx-test-app", "WECHAT_MINIPROGRAM_APP_SECRET": "wx-test-secret",
    "DINGTALK_MINIPROGRAM_APP_KEY": "ding-test-key", "DINGTALK_MINIPROGRAM_APP_SECRET": "ding-test-secret",
    "DINGTALK_APP_KEY": "ding-test-key", "DINGTALK_APP_SECRET": "ding-test-secret",
    "WECOM_CORP_ID": "ww-test-corp", "WECOM_SECRET": "ww-test-secret",
    # The console's QR sign-in: the website app, and the QR pages the browser is sent to (this server).
    "WECHAT_WEB_APP_ID": "wx-web-app", "WECHAT_WEB_APP_SECRET": "wx-web-secret",
}


def build(port: int = 0) -> StubServer:
    """A stub server with every platform route installed (not started)."""
    server = StubServer(port)
    wechat, dingtalk = MiniProgramStub(), DingTalkAuthStub()
    install_wechat_miniprogram(server, wechat)
    install_wechat_subscribe(server)
    install_wecom_token(server)
    install_media(server, {})
    install_message_send(server)
    install_dingtalk_auth(server, dingtalk)
    install_dingtalk_cards(server)
    install_robot_messages(server)
    install_web_login(server, WebLoginStub())

    @server.route("POST", "/__stub/wechat/login-code")
    def wechat_code(req: StubRequest) -> dict[str, object]:
        body = req.json() or {}
        return {"code": wechat.login_code(str(body.get("openid") or "demo-openid-wang"), body.get("unionid"))}

    @server.route("POST", "/__stub/wechat/phone-code")
    def phone_code(req: StubRequest) -> dict[str, object]:
        return {"code": wechat.phone_code(str((req.json() or {}).get("phone") or ""))}

    @server.route("POST", "/__stub/dingtalk/auth-code")
    def dingtalk_code(req: StubRequest) -> dict[str, object]:
        body = req.json() or {}
        return {"code": dingtalk.auth_code(str(body.get("userid") or "zhao"), str(body.get("name") or "钉钉用户"),
                                           body.get("mobile"))}

    @server.route("GET", "/__stub/messages")
    def messages(_req: StubRequest) -> dict[str, object]:
        return {"messages": [{"user_id": user, "text": text} for user, text in sent_texts(server)[-50:]]}

    @server.route("GET", "/__stub/requests")
    def received(_req: StubRequest) -> dict[str, object]:
        return {"requests": [{"method": r.method, "path": r.path} for r in server.requests[-200:]]}

    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstubs", description=__doc__)
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args(argv)
    server = build(args.port).start()
    print(f"平台模拟服务已启动：{server.base_url}（Ctrl-C 退出）", flush=True)
    print(f"export WECHAT_API_BASE={server.base_url} DINGTALK_API_BASE={server.base_url} "
          f"LIUZHUAN_PLATFORM_API_BASE={server.base_url} DINGTALK_LOGIN_BASE={server.base_url} "
          f"WECHAT_OPEN_BASE={server.base_url}", flush=True)
    print("export " + " ".join(f"{k}={v}" for k, v in ENV.items()), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
