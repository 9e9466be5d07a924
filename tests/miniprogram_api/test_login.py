"""Login through the real wechatpy / DingTalk SDK clients pointed at the platform stubs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from unittest import mock

from sqlalchemy import func, select

from app.factory import create_app
from models.demo import seed_demo
from models.miniprogram import PlatformSession
from models.operations.identity import IssueBindingCode, issue_binding_code
from models.org import IdentityProvider, MemberIdentity
from models.uow import run
from tests.miniprogram_api.fixtures_3a import bearer, fx_app, fx_client, fx_platform_stub, make_app  # noqa: F401


def _code_for(session_factory, actors, who="王阿姨"):
    # the director: a manager may not issue a code for a member with rights he lacks (吴会计's finance)
    return run(session_factory, issue_binding_code, actors["钱总监"],
               IssueBindingCode(actors[who].member_id)).code


def test_wechat_login_of_a_bound_member_returns_our_token_not_the_session_key(client, platform_stub, demo,
                                                                               session_factory):
    _server, wx, _ = platform_stub
    openid = f"o-{uuid.uuid4().hex}"
    with session_factory() as s:  # bind the demo farmer to a fresh openid
        s.add(MemberIdentity(org_id=demo.org_id, member_id=demo.members["王阿姨"],
                             provider=IdentityProvider.WECHAT_OPENID, external_id=openid))
        s.commit()
    resp = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid)})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["member"]["member_name"] == "王阿姨" and body["bound_now"] is False
    assert "session_key" not in resp.get_data(as_text=True)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json["party_id"] == demo.parties["王阿姨"]
    with session_factory() as s:
        row = s.scalar(select(PlatformSession).where(PlatformSession.external_id == openid))
        assert row is not None and row.session_key  # kept on the server


def test_first_wechat_login_binds_by_invitation_code(client, platform_stub, demo, actors, session_factory):
    _server, wx, _ = platform_stub
    code = _code_for(session_factory, actors, "吴会计")
    openid = f"o-{uuid.uuid4().hex}"
    unbound = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid)})
    assert unbound.status_code == 403 and unbound.json["error"]["code"] == "BINDING_REQUIRED"
    resp = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid), "binding_code": code})
    assert resp.status_code == 200, resp.json
    assert resp.json["bound_now"] is True and resp.json["member"]["member_name"] == "吴会计"
    again = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid)})
    assert again.json["member"]["member_id"] == demo.members["吴会计"]


def test_first_wechat_login_binds_by_verified_phone(client, platform_stub, demo):
    _server, wx, _ = platform_stub
    openid = f"o-{uuid.uuid4().hex}"
    resp = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid),
                                                     "phone_code": wx.phone_code("13900000001")})
    assert resp.status_code == 200, resp.json
    names = {c["member_name"] for c in resp.json["orgs"]}
    assert "小周" in names  # every demo org registers 小周 with this phone


def test_identity_in_several_orgs_gets_a_choice(client, platform_stub, session_factory):
    _server, wx, _ = platform_stub
    first = run(session_factory, seed_demo, f"a-{uuid.uuid4().hex[:8]}", "甲合作社")
    second = run(session_factory, seed_demo, f"b-{uuid.uuid4().hex[:8]}", "乙合作社")
    openid = f"o-{uuid.uuid4().hex}"
    with session_factory() as s:
        for org in (first, second):
            s.add(MemberIdentity(org_id=org.org_id, member_id=org.members["赵经理"],
                                 provider=IdentityProvider.WECHAT_OPENID, external_id=openid))
        s.commit()
    resp = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid)})
    assert resp.status_code == 200
    assert resp.json["token"] is None and {c["org_name"] for c in resp.json["orgs"]} == {"甲合作社", "乙合作社"}
    assert all(c["token"] for c in resp.json["orgs"])
    picked = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid), "org_id": second.org_id})
    assert picked.json["member"]["org_id"] == second.org_id and picked.json["token"]


def test_invalid_and_reused_wechat_codes_are_401_and_write_nothing(client, platform_stub, session_factory):
    _server, wx, _ = platform_stub
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(PlatformSession))
    bad = client.post("/api/v1/auth/wechat", json={"code": "nonsense"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "LOGIN_CODE_INVALID"
    assert bad.json["error"]["details"]["errcode"] == 40029
    code = wx.login_code(f"o-{uuid.uuid4().hex}")
    client.post("/api/v1/auth/wechat", json={"code": code})
    reused = client.post("/api/v1/auth/wechat", json={"code": code})
    assert reused.status_code == 401 and reused.json["error"]["details"]["errcode"] == 40163
    with session_factory() as s:
        # the first use was an unbound identity: BINDING_REQUIRED rolled its session row back too
        assert s.scalar(select(func.count()).select_from(PlatformSession)) == before


def test_wrong_binding_code_is_refused(client, platform_stub):
    _server, wx, _ = platform_stub
    resp = client.post("/api/v1/auth/wechat", json={"code": wx.login_code("o-x"), "binding_code": "0000 0000 0000"})
    assert resp.status_code == 422 and resp.json["error"]["code"] == "BINDING_CODE_INVALID"


def test_dingtalk_login_by_auth_code_and_phone(client, platform_stub, demo):
    _server, _, ding = platform_stub
    userid = f"u-{uuid.uuid4().hex[:10]}"
    first = client.post("/api/v1/auth/dingtalk", json={"auth_code": ding.auth_code(userid, "钱总监", "13900000004"),
                                                        "use_phone": True, "org_id": demo.org_id})
    assert first.status_code == 200, first.json
    assert first.json["member"]["member_name"] == "钱总监" and first.json["bound_now"] is True
    second = client.post("/api/v1/auth/dingtalk", json={"auth_code": ding.auth_code(userid), "org_id": demo.org_id})
    assert second.json["member"]["member_id"] == demo.members["钱总监"]
    bad = client.post("/api/v1/auth/dingtalk", json={"auth_code": "used-or-made-up"})
    assert bad.status_code == 401 and bad.json["error"]["details"]["errcode"] == 40078


def test_dev_login_only_without_wechat_config(client, database_url, tmp_path: Path, demo):
    assert client.post("/api/v1/auth/dev", json={"phone": "13800000001"}).status_code == 404
    dev = make_app(database_url, tmp_path / "m").test_client()
    resp = dev.post("/api/v1/auth/dev", json={"phone": "13800000001", "org_id": demo.org_id})
    assert resp.status_code == 200 and resp.json["member"]["member_name"] == "王阿姨"
    prod = make_app(database_url, tmp_path / "m", LIUZHUAN_ENV="production", SECRET_KEY="x" * 40,
                    PUBLIC_BASE_URL="https://lz.example.cn").test_client()
    gone = prod.post("/api/v1/auth/dev", json={"phone": "13800000001"})
    assert gone.status_code == 404 and gone.json["error"]["code"] == "PLATFORM_NOT_CONFIGURED"


def test_wrong_forged_and_expired_tokens(client, app, demo):
    from miniprogram_api.auth import issue_token

    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).json["error"]["code"] == \
        "UNAUTHENTICATED"
    other = create_app({"DATABASE_URL": app.extensions["liuzhuan"]["settings"].database_url,
                        "SECRET_KEY": "another-secret-0123456789"})
    with other.app_context():
        forged = issue_token(demo.members["赵经理"], demo.org_id)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    with app.app_context(), mock.patch("itsdangerous.timed.time.time", return_value=time.time() - 8 * 24 * 3600):
        stale = issue_token(demo.members["赵经理"], demo.org_id)
    expired = client.get("/api/v1/me", headers={"Authorization": f"Bearer {stale}"})
    assert expired.status_code == 401 and expired.json["error"]["code"] == "TOKEN_EXPIRED"
    assert expired.json["error"]["message"] == "登录已过期，请重新登录"
    assert client.get("/api/v1/me", headers=bearer(app, demo, "赵经理")).status_code == 200
