"""Console sign-in by DingTalk and WeChat QR code, through the platforms' stub server and the real SDK clients."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from models.identity import ConsoleSession
from models.org import IdentityProvider
from tests.console.conftest import csrf_of
from tests.console.signin_fixtures import fx_signin_app, fx_web_stub, rebind, scan  # noqa: F401  (fixtures)


def test_login_page_offers_both_qr_ways_and_the_code(signin_app):
    page = signin_app.test_client().get("/console/login").get_data(as_text=True)
    for text in ("钉钉扫码登录", "微信扫码登录", "用钉钉打开", "用微信打开", "验证码登录", "获取验证码"):
        assert text in page
    assert "<script>" not in page and "onclick" not in page


def test_the_dingtalk_authorize_url_is_the_documented_one(signin_app):
    start = signin_app.test_client().get("/console/login/dingtalk")
    url = urlsplit(start.headers["Location"])
    q = parse_qs(url.query)
    assert url.path == "/oauth2/auth"
    assert q["response_type"] == ["code"] and q["client_id"] == ["ding-test-key"] and q["scope"] == ["openid"]
    assert q["prompt"] == ["consent"] and len(q["state"][0]) >= 32
    assert q["redirect_uri"] == ["http://127.0.0.1:8000/console/login/dingtalk/callback"]


def test_scanning_with_dingtalk_signs_the_bound_member_in(signin_app, web_stub, demo, session_factory):
    server, _stub = web_stub
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    client = signin_app.test_client()
    _path, back = scan(client, "dingtalk", userid, next_url="/console/")
    assert back.status_code == 303 and back.headers["Location"] == "/console/"
    page = client.get("/console/").get_data(as_text=True)
    assert "赵经理" in page
    # Real SDK calls reached DingTalk's documented endpoints, in order.
    paths = [r.path for r in server.requests]
    for path in ("/v1.0/oauth2/userAccessToken", "/v1.0/contact/users/me", "/topapi/user/getbyunionid"):
        assert path in paths
    assert server.received("/v1.0/oauth2/userAccessToken")[-1].json()["grantType"] == "authorization_code"


def test_scanning_with_wechat_matches_the_unionid(signin_app, demo, session_factory):
    unionid = rebind(session_factory, demo, "钱总监", IdentityProvider.WECHAT_UNIONID)
    client = signin_app.test_client()
    _path, back = scan(client, "wechat", "web-openid-somebody", unionid=unionid)
    assert back.status_code == 303
    assert "钱总监" in client.get("/console/").get_data(as_text=True)


def test_an_identity_in_several_orgs_chooses_the_org(signin_app, web_stub, demo, session_factory):
    from models.demo import seed_demo
    from models.uow import run

    other = run(session_factory, seed_demo, "t-signin-other-" + demo.org_id.__str__())
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    rebind(session_factory, other, "赵经理", IdentityProvider.DINGTALK_USERID, userid)
    client = signin_app.test_client()
    _path, back = scan(client, "dingtalk", userid)
    page = back.get_data(as_text=True)
    assert back.status_code == 200 and "选择单位" in page and f'value="{other.org_id}"' in page
    chosen = client.post("/console/login/pick", data={"csrf_token": csrf_of(client, "/console/login"),
                                                      "org_id": other.org_id})
    assert chosen.status_code == 303
    with session_factory() as s:
        latest = s.scalars(select(ConsoleSession).where(ConsoleSession.member_id.in_(
            [demo.members["赵经理"], other.members["赵经理"]])).order_by(ConsoleSession.id.desc())).first()
        assert latest.org_id == other.org_id and latest.method == "dingtalk_qr"


def test_an_identity_bound_to_nobody_is_told_to_ask_for_a_binding_code(signin_app, session_factory):
    client = signin_app.test_client()
    _path, back = scan(client, "dingtalk", "nobody-bound-this")
    page = back.get_data(as_text=True)
    assert back.status_code == 403 and "NOT_BOUND" in page and "绑定码" in page
    assert client.get("/console/").status_code == 302  # not signed in


def test_a_stranger_outside_the_dingtalk_org_is_not_signed_in(signin_app, web_stub, demo, session_factory):
    _server, stub = web_stub
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    stub.ding_strangers.add(userid)  # getbyunionid: 60121, not in the organisation
    client = signin_app.test_client()
    _path, back = scan(client, "dingtalk", userid)
    assert back.status_code == 403 and "NOT_BOUND" in back.get_data(as_text=True)


def test_qr_login_is_absent_without_credentials(console_app):
    client = console_app.test_client()
    assert "钉钉扫码登录" not in client.get("/console/login").get_data(as_text=True)
    response = client.get("/console/login/dingtalk")
    assert response.status_code == 404 and "PLATFORM_NOT_CONFIGURED" in response.get_data(as_text=True)
