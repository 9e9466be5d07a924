"""Attacks on the console's sign-in: replayed and foreign QR states, expired states and codes, guessing,
a code or a choice for another org's member, an open redirect through ``next``, forged posts."""

from __future__ import annotations

import time

from console import signin
from models.org import IdentityProvider
from tests.console.conftest import csrf_of
from tests.console.signin_fixtures import fx_signin_app, fx_web_stub, rebind, scan, unique_phone  # noqa: F401
from tests.security.conftest import rows


def _signed_in(client) -> bool:
    return client.get("/console/").status_code == 200


def test_a_replayed_callback_is_refused(signin_app, demo, session_factory):
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    client = signin_app.test_client()
    path, first = scan(client, "dingtalk", userid)
    assert first.status_code == 303
    client.post("/console/logout", data={"csrf_token": csrf_of(client, "/console/")})
    again = client.get(path)  # the same state and code once more
    assert again.status_code == 400 and "LOGIN_STATE_INVALID" in again.get_data(as_text=True)
    assert not _signed_in(client)


def test_a_state_from_another_browser_is_refused(signin_app, engine, demo, session_factory):
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    victim, attacker = signin_app.test_client(), signin_app.test_client()
    victim.get("/console/login/dingtalk")  # the victim has a pending state of their own
    # The attacker scans in their own browser, then feeds the callback (their state, their code) to the victim.
    attacker.get("/console/login/dingtalk")
    with attacker.session_transaction() as sess:
        sess.clear()  # the attacker abandons their own flow: only the URL travels
    path, _ = scan(signin_app.test_client(), "dingtalk", userid)
    before = rows(engine)
    forged = victim.get(path)
    assert forged.status_code == 400 and "LOGIN_STATE_INVALID" in forged.get_data(as_text=True)
    assert not _signed_in(victim)
    assert rows(engine) == before


def test_a_callback_without_any_pending_state_is_refused(signin_app):
    client = signin_app.test_client()
    response = client.get("/console/login/dingtalk/callback?authCode=x&state=guess")
    assert response.status_code == 400 and "LOGIN_STATE_INVALID" in response.get_data(as_text=True)


def test_a_state_for_the_other_platform_is_refused(signin_app):
    client = signin_app.test_client()
    client.get("/console/login/dingtalk")
    with client.session_transaction() as sess:
        state = sess["console_oauth"]["state"]
    response = client.get(f"/console/login/wechat/callback?code=x&state={state}")
    assert response.status_code == 400 and "LOGIN_STATE_INVALID" in response.get_data(as_text=True)


def test_an_expired_state_is_refused(signin_app, demo, session_factory, monkeypatch):
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    client = signin_app.test_client()
    later = time.time() + signin.STATE_LIFETIME_S + 5
    real_get = client.get

    def get_later(path, *args, **kwargs):
        if "/callback" in path:
            monkeypatch.setattr(signin.time, "time", lambda: later)
        return real_get(path, *args, **kwargs)

    client.get = get_later  # type: ignore[method-assign]
    _path, back = scan(client, "dingtalk", userid)
    assert back.status_code == 400 and "LOGIN_STATE_EXPIRED" in back.get_data(as_text=True)


def test_an_expired_code_is_refused(signin_app, demo, session_factory, engine, monkeypatch):
    from datetime import timedelta

    from models.base import utcnow
    from models.operations import console_login

    phone = unique_phone(session_factory, demo, "赵经理")
    rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    monkeypatch.setattr(console_login, "secrets", _FixedCode("246810"))
    client = signin_app.test_client()
    client.post("/console/login/code/send", data={"csrf_token": csrf_of(client), "phone": phone})
    monkeypatch.setattr(console_login, "utcnow", lambda: utcnow() + timedelta(minutes=6))
    response = client.post("/console/login/code/verify", data={"csrf_token": csrf_of(client), "phone": phone,
                                                               "code": "246810"})
    assert response.status_code == 401 and "LOGIN_CODE_INVALID" in response.get_data(as_text=True)
    assert not _signed_in(client)


class _FixedCode:
    """secrets with a known code (the test plays the member reading their chat)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def randbelow(self, _n: int) -> int:
        return int(self.code)

    def token_hex(self, n: int) -> str:
        import secrets

        return secrets.token_hex(n)


def test_guessing_stops_after_five_tries_even_with_the_right_code(signin_app, demo, session_factory, monkeypatch):
    from models.operations import console_login

    phone = unique_phone(session_factory, demo, "赵经理")
    rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    monkeypatch.setattr(console_login, "secrets", _FixedCode("135790"))
    client = signin_app.test_client()
    client.post("/console/login/code/send", data={"csrf_token": csrf_of(client), "phone": phone})
    for guess in ("000000", "111111", "222222", "333333", "444444"):
        wrong = client.post("/console/login/code/verify", data={"csrf_token": csrf_of(client), "phone": phone,
                                                                "code": guess})
        assert wrong.status_code == 401
    right = client.post("/console/login/code/verify", data={"csrf_token": csrf_of(client), "phone": phone,
                                                            "code": "135790"})
    assert right.status_code == 401 and not _signed_in(client)


def test_a_second_send_within_a_minute_is_refused_alike_for_any_phone(signin_app, demo, session_factory, engine):
    phone = unique_phone(session_factory, demo, "赵经理")
    client = signin_app.test_client()
    answers = []
    for number in (phone, "13655512345"):
        client.post("/console/login/code/send", data={"csrf_token": csrf_of(client), "phone": number})
        before = rows(engine)
        again = client.post("/console/login/code/send", data={"csrf_token": csrf_of(client), "phone": number})
        assert rows(engine) == before  # the refused send wrote nothing
        answers.append((again.status_code, "LOGIN_CODE_TOO_SOON" in again.get_data(as_text=True)))
    assert answers[0] == answers[1] == (429, True)  # the registered phone and the unknown one look the same


def test_a_choice_cannot_reach_another_orgs_member(signin_app, demo, session_factory, monkeypatch):
    from models.demo import seed_demo
    from models.operations import console_login
    from models.uow import run

    other = run(session_factory, seed_demo, f"t-pick-other-{demo.org_id}")
    third = run(session_factory, seed_demo, f"t-pick-third-{demo.org_id}")
    phone = unique_phone(session_factory, demo, "赵经理")
    with session_factory.begin() as s:
        from sqlalchemy import update

        from models.org import Member
        s.execute(update(Member).where(Member.id == other.members["赵经理"]).values(phone=phone))
    monkeypatch.setattr(console_login, "secrets", _FixedCode("864200"))
    client = signin_app.test_client()
    client.post("/console/login/code/send", data={"csrf_token": csrf_of(client), "phone": phone})
    client.post("/console/login/code/verify", data={"csrf_token": csrf_of(client), "phone": phone, "code": "864200"})
    sneaky = client.post("/console/login/pick", data={"csrf_token": csrf_of(client), "org_id": third.org_id})
    assert sneaky.status_code == 400 and "LOGIN_CHOICE_INVALID" in sneaky.get_data(as_text=True)
    assert not _signed_in(client)
    junk = client.post("/console/login/pick", data={"csrf_token": csrf_of(client), "org_id": "1 OR 1=1"})
    assert junk.status_code == 400 and not _signed_in(client)


def test_a_choice_without_a_verified_sign_in_is_refused(signin_app, demo):
    client = signin_app.test_client()
    response = client.post("/console/login/pick", data={"csrf_token": csrf_of(client), "org_id": demo.org_id})
    assert response.status_code == 400 and "LOGIN_CHOICE_EXPIRED" in response.get_data(as_text=True)
    assert not _signed_in(client)


def test_next_cannot_send_the_signed_in_member_off_site(signin_app, demo, session_factory):
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    for target in ("https://evil.example/console", "//evil.example/console", "/console\\@evil.example"):
        client = signin_app.test_client()
        _path, back = scan(client, "dingtalk", userid, next_url=target)
        assert back.status_code == 303 and back.headers["Location"] == "/console/", target


def test_forged_posts_without_csrf_are_refused_and_write_nothing(signin_app, engine, demo, session_factory):
    phone = unique_phone(session_factory, demo, "赵经理")
    client = signin_app.test_client()
    before = rows(engine)
    for path, data in (("/console/login/code/send", {"phone": phone}),
                       ("/console/login/code/verify", {"phone": phone, "code": "123456"}),
                       ("/console/login/pick", {"org_id": demo.org_id})):
        response = client.post(path, data=data)
        assert response.status_code == 400 and "CSRF_INVALID" in response.get_data(as_text=True)
    assert rows(engine) == before


def test_absurd_input_never_500s(signin_app):
    client = signin_app.test_client()
    for phone in ("1" * 5000, "１３９００００００００", "<script>", ""):
        response = client.post("/console/login/code/send", data={"csrf_token": csrf_of(client), "phone": phone})
        assert response.status_code in (400, 422), phone
    response = client.post("/console/login/code/verify", data={"csrf_token": csrf_of(client), "phone": "x" * 999,
                                                               "code": "y" * 999})
    assert response.status_code == 401
    client.get("/console/login/dingtalk")
    with client.session_transaction() as sess:
        state = sess["console_oauth"]["state"]
    response = client.get("/console/login/dingtalk/callback", query_string={"state": state, "authCode": "z" * 5000})
    assert response.status_code == 400 and "LOGIN_CANCELLED" in response.get_data(as_text=True)
