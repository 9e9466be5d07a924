"""Finding 3: binding codes could be brute-forced (6 digits, 24 h, no throttle) and the member was
not told. Replays: guessing through the bot and the login locks the identity; a right code is then
refused too; codes are single use, expire, belong to one org, need MEMBERS to issue; a bind tells
the member. A refused try writes exactly one row: its ``binding_attempts`` entry (the throttle's
memory), nothing else."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.engine import BotServices, Inbound, handle_inbound
from models.actor import Actor
from models.base import utcnow
from models.demo import seed_demo
from models.errors import PermissionDenied
from models.event_log import Notification
from models.identity import BindingAttempt, BindingCode
from models.infra import OutboxEvent
from models.operations.identity import (
    BindIdentity,
    BindingCodeInvalid,
    BindingPolicy,
    BindingThrottled,
    IssueBindingCode,
    bind_with_code,
    hash_code,
    identity_key,
    issue_binding_code,
    mask,
    members_for_identity,
    normalize_code,
)
from models.org import IdentityProvider, MemberIdentity
from models.uow import run
from tests.miniprogram_api.fixtures_3a import fx_platform_stub, make_app  # noqa: F401
from tests.security.conftest import assert_refused, rows

WX = IdentityProvider.WECHAT_OPENID
DING = IdentityProvider.DINGTALK_USERID
WRONG = "0000 0000 0000"
#: The bot's message dedupe log: every chat message writes one, bound or not.
CHAT_LOG = "chat_inbound"


@dataclass
class FakeDingTalk:
    channel: str = "dingtalk"
    provider: IdentityProvider = DING

    def fetch_media(self, media_id: str) -> bytes:
        raise AssertionError("no media in these tests")

    def push_text(self, user_id: str, text: str) -> None:
        raise AssertionError("no push in these tests")


def say(session_factory, user: str, text: str, tmp_path: Path) -> str:
    """One DingTalk chat message through the bot engine (the path the 300-guess attack used)."""
    inbound = Inbound(channel="dingtalk", user_id=user, msg_key=f"m-{uuid.uuid4().hex}", text=text)
    return handle_inbound(session_factory, FakeDingTalk(), inbound, BotServices(None, tmp_path))


def issue(session_factory, actor: Actor, member_id: int) -> str:
    return run(session_factory, issue_binding_code, actor, IssueBindingCode(member_id)).code


def attempts(session_factory, provider: IdentityProvider, user: str) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(BindingAttempt).where(
            BindingAttempt.identity == identity_key(provider, user))) or 0


def test_bot_brute_force_locks_the_identity_and_then_refuses_the_right_code(
        session_factory, engine, demo, actors, tmp_path):
    code = issue(session_factory, actors["钱总监"], demo.members["钱总监"])
    attacker = f"attacker-{uuid.uuid4().hex[:8]}"
    before = rows(engine, ignore={"binding_attempts", CHAT_LOG})
    for _ in range(5):
        assert "绑定码无效" in say(session_factory, attacker, f"绑定 {WRONG}", tmp_path)
    assert attempts(session_factory, DING, attacker) == 5
    # locked now: the right code is refused as well, and a refused-while-locked try writes nothing
    reply = say(session_factory, attacker, f"绑定 {code}", tmp_path)
    assert "输错次数太多" in reply and "暂停绑定" in reply
    assert attempts(session_factory, DING, attacker) == 5
    assert rows(engine, ignore={"binding_attempts", CHAT_LOG}) == before
    with session_factory() as s:
        assert members_for_identity(s, DING, attacker) == []
        spent = s.scalar(select(BindingCode.used_at).where(BindingCode.code_hash == hash_code(normalize_code(code))))
        assert spent is None
    # an hour and a quarter later the lock has passed (moved back in time instead of waiting)
    with session_factory() as s:
        s.execute(update(BindingAttempt).where(BindingAttempt.identity == identity_key(DING, attacker))
                  .values(created_at=utcnow() - timedelta(minutes=76)))
        s.commit()
    assert "绑定成功：钱总监" in say(session_factory, attacker, f"绑定 {code}", tmp_path)


def test_login_guessing_is_counted_although_the_login_rolls_back(platform_stub, database_url, tmp_path,
                                                                  engine, session_factory):
    server, wx, _ding = platform_stub
    app = make_app(database_url, tmp_path / "media", WECHAT_MINIPROGRAM_APP_ID=wx.appid,
                   WECHAT_MINIPROGRAM_APP_SECRET=wx.secret, WECHAT_API_BASE=server.base_url)
    client = app.test_client()
    openid = f"o-guess-{uuid.uuid4().hex[:8]}"
    before = rows(engine, ignore={"binding_attempts"})
    for _ in range(5):
        resp = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid), "binding_code": WRONG})
        assert_refused(resp, 422, "BINDING_CODE_INVALID", "绑定码无效")
    resp = client.post("/api/v1/auth/wechat", json={"code": wx.login_code(openid), "binding_code": WRONG})
    assert_refused(resp, 429, "BINDING_LOCKED", "输错次数太多")
    assert attempts(session_factory, WX, openid) == 5
    assert rows(engine, ignore={"binding_attempts"}) == before  # not even the platform session row


def test_a_code_is_single_use(session_factory, engine, demo, actors):
    code = issue(session_factory, actors["赵经理"], demo.members["小周"])
    bound = bind_with_code(session_factory, BindIdentity(WX, f"o-first-{uuid.uuid4().hex[:6]}", code))
    assert bound.member_id == demo.members["小周"]
    before = rows(engine, ignore={"binding_attempts"})
    second = f"o-second-{uuid.uuid4().hex[:6]}"
    with pytest.raises(BindingCodeInvalid) as err:
        bind_with_code(session_factory, BindIdentity(WX, second, code))
    assert err.value.code == "BINDING_CODE_INVALID" and "绑定码无效" in err.value.message
    assert rows(engine, ignore={"binding_attempts"}) == before
    assert attempts(session_factory, WX, second) == 1


def test_an_expired_code_is_refused(session_factory, engine, demo, actors):
    code = issue(session_factory, actors["赵经理"], demo.members["小周"])
    with session_factory() as s:
        row = s.scalar(select(BindingCode).where(BindingCode.code_hash == hash_code(normalize_code(code))))
        assert timedelta(minutes=29) < row.expires_at - row.created_at <= timedelta(minutes=30)
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    before = rows(engine, ignore={"binding_attempts"})
    late = f"o-late-{uuid.uuid4().hex[:6]}"
    with pytest.raises(BindingCodeInvalid):
        bind_with_code(session_factory, BindIdentity(WX, late, code))
    assert rows(engine, ignore={"binding_attempts"}) == before
    assert attempts(session_factory, WX, late) == 1


def test_a_code_is_scoped_to_the_org_the_login_names(session_factory, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    code = issue(session_factory, actors["赵经理"], demo.members["小周"])
    with pytest.raises(BindingCodeInvalid):
        bind_with_code(session_factory, BindIdentity(WX, f"o-{uuid.uuid4().hex[:6]}", code), org_id=other.org_id)
    assert bind_with_code(session_factory, BindIdentity(WX, f"o-{uuid.uuid4().hex[:6]}", code),
                          org_id=demo.org_id).member_id == demo.members["小周"]


def test_the_global_cap_refuses_every_identity_and_writes_nothing(session_factory, engine, demo):
    with session_factory() as s:  # other tests share the database: cap relative to what is there
        recent = s.scalar(select(func.count()).select_from(BindingAttempt).where(
            BindingAttempt.succeeded.is_(False), BindingAttempt.created_at > utcnow() - timedelta(minutes=1))) or 0
    policy = BindingPolicy(global_failures_per_minute=recent + 3)
    for n in range(3):  # three identities, one guess each: no identity is near its own lock
        with pytest.raises(BindingCodeInvalid):
            bind_with_code(session_factory, BindIdentity(WX, f"o-spray-{n}-{uuid.uuid4().hex[:6]}", WRONG),
                           policy=policy)
    before = rows(engine)
    with pytest.raises(BindingThrottled) as err:
        bind_with_code(session_factory, BindIdentity(WX, f"o-spray-x-{uuid.uuid4().hex[:6]}", WRONG), policy=policy)
    assert err.value.code == "BINDING_THROTTLED" and "请过一分钟再试" in err.value.message
    assert rows(engine) == before


def test_issuing_needs_members_permission_and_stays_in_the_org(client, as_, engine, demo, session_factory):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    before = rows(engine)
    resp = client.post(f"/api/v1/members/{demo.members['老孙']}/binding-codes", json={}, headers=as_("小周"))
    assert_refused(resp, 403, "PERMISSION_DENIED", "发放绑定码")
    resp = client.post(f"/api/v1/members/{other.members['小周']}/binding-codes", json={}, headers=as_("赵经理"))
    assert_refused(resp, 404, "NOT_FOUND", "找不到成员")
    # a manager cannot mint a code that makes someone the director
    resp = client.post(f"/api/v1/members/{demo.members['钱总监']}/binding-codes", json={}, headers=as_("赵经理"))
    assert_refused(resp, 403, "PERMISSION_DENIED", "权限比自己高")
    assert rows(engine) == before
    resp = client.post(f"/api/v1/members/{demo.members['小周']}/binding-codes", json={"minutes": 10},
                       headers=as_("赵经理"))
    assert resp.status_code == 200, resp.json
    assert resp.headers["Cache-Control"] == "no-store"
    plain = normalize_code(resp.json["code"])
    assert plain is not None and resp.json["member_id"] == demo.members["小周"]
    with session_factory() as s:  # stored hashed, never in clear
        row = s.scalar(select(BindingCode).where(BindingCode.member_id == demo.members["小周"]))
        assert row.code_hash == hash_code(plain) and row.org_id == demo.org_id
    with pytest.raises(PermissionDenied):
        issue(session_factory, Actor(org_id=demo.org_id, member_id=demo.members["小周"]), demo.members["老孙"])


def test_listing_and_revoking_bindings(client, as_, engine, demo, session_factory):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    openid = f"o-list-{uuid.uuid4().hex[:8]}"
    code = issue(session_factory, Actor.system_actor(demo.org_id), demo.members["小周"])
    bind_with_code(session_factory, BindIdentity(WX, openid, code))
    mine = client.get(f"/api/v1/members/{demo.members['小周']}/bindings", headers=as_("小周"))
    assert mine.status_code == 200, mine.json
    [binding] = [b for b in mine.json["bindings"] if b["account"] == mask(openid)]
    assert binding["provider"] == "wechat_openid" and openid not in binding["account"]
    assert client.get(f"/api/v1/members/{demo.members['小周']}/bindings", headers=as_("赵经理")).status_code == 200
    before = rows(engine)
    url = f"/api/v1/members/{demo.members['小周']}/bindings/{binding['id']}"
    assert_refused(client.delete(url, headers=as_("老孙")), 403, "PERMISSION_DENIED", "没有权限")
    assert_refused(client.get(f"/api/v1/members/{other.members['小周']}/bindings", headers=as_("赵经理")),
                   404, "NOT_FOUND", "找不到成员")
    wrong = f"/api/v1/members/{demo.members['老孙']}/bindings/{binding['id']}"
    assert_refused(client.delete(wrong, headers=as_("赵经理")), 404, "NOT_FOUND", "找不到绑定")
    assert rows(engine) == before
    gone = client.delete(url, headers=as_("小周"))
    assert gone.status_code == 200, gone.json
    with session_factory() as s:
        assert members_for_identity(s, WX, openid) == []
        assert s.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "member.identity_revoked")) == 1


def test_a_new_binding_tells_the_member_on_their_other_accounts(session_factory, demo, actors):
    from workflows.bindings import tell_member
    from workflows.messenger import RecordingMessenger, set_messenger

    director = demo.members["钱总监"]
    ding_id = f"qian-{uuid.uuid4().hex[:6]}"
    with session_factory() as s:
        s.add(MemberIdentity(org_id=demo.org_id, member_id=director, provider=DING, external_id=ding_id))
        s.commit()
    code = issue(session_factory, actors["钱总监"], director)
    stranger = f"o-stranger-{uuid.uuid4().hex[:6]}"
    bind_with_code(session_factory, BindIdentity(WX, stranger, code))
    messenger = RecordingMessenger()
    set_messenger(messenger)
    try:
        with session_factory() as s:
            [event] = s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                          OutboxEvent.kind == "member.identity_bound",
                                                          OutboxEvent.payload["member_id"].as_integer() == director))
            assert event.payload["external_hint"] != stranger and event.payload["how"] == "code"
            others = [i.external_id for i in s.scalars(select(MemberIdentity).where(
                MemberIdentity.member_id == director, MemberIdentity.external_id != stranger))]
            assert {i.provider for i in s.scalars(select(MemberIdentity).where(
                MemberIdentity.member_id == director, MemberIdentity.external_id.in_(others)))} == {DING}
            tell_member(s, event)
            tell_member(s, event)  # a redelivered event tells nobody twice
            s.commit()
            notes = list(s.scalars(select(Notification).where(Notification.org_id == demo.org_id,
                                                              Notification.member_id == director)))
    finally:
        set_messenger(None)
    # every other account of the director hears of it (the demo's own DingTalk id and the one above)
    assert {u for kind, sent in messenger.sent for u in sent["user_ids"]} == set(others) and ding_id in others
    assert all(kind == "card" and "如果不是您本人操作" in sent["params"]["summary"] for kind, sent in messenger.sent)
    assert len(messenger.sent) == len(others)
    assert len(notes) == len(others) and {n.title for n in notes} == {"账号绑定提醒"}
