"""Console sign-in by a one-time code sent to the member's bound chat, delivered by the bots' push
(the outbox relay, real SDK clients) to the platforms' stub server."""

from __future__ import annotations

import re

import pytest

import bot.push  # noqa: F401  (registers the relay's chat.push handler, as the worker does)
from devstubs.web_login import sent_texts
from models.org import IdentityProvider
from tests.console.conftest import csrf_of
from tests.console.signin_fixtures import fx_signin_app, fx_web_stub, rebind, stub_env, unique_phone  # noqa: F401
from workflows.relay import relay_pending


@pytest.fixture
def worker(web_stub, monkeypatch):
    """The relay reads its settings from the environment, as the worker process does."""
    server, _stub = web_stub
    for key, value in stub_env(server).items():
        monkeypatch.setenv(key, value)
    return server


def send_code(client, phone: str):
    return client.post("/console/login/code/send", data={"csrf_token": csrf_of(client), "phone": phone,
                                                         "next": "/console/"})


def code_for(server, user_id: str) -> str:
    texts = [text for user, text in sent_texts(server) if user == user_id]
    assert texts, f"no message to {user_id}"
    return re.search(r"验证码：(\d{6})", texts[-1]).group(1)


def test_a_code_goes_to_the_dingtalk_chat_and_signs_in(signin_app, worker, demo, session_factory):
    phone = unique_phone(session_factory, demo, "赵经理")
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    client = signin_app.test_client()
    sent = send_code(client, phone)
    page = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "验证码已发到您的聊天窗口" in page and "6位验证码" in page
    relay_pending(session_factory, limit=10_000)
    code = code_for(worker, userid)
    done = client.post("/console/login/code/verify", data={
        "csrf_token": csrf_of(client), "phone": phone, "code": code, "next": "/console/"})
    assert done.status_code == 303 and done.headers["Location"] == "/console/"
    assert "赵经理" in client.get("/console/").get_data(as_text=True)


def test_a_wecom_member_gets_the_code_as_an_app_message(signin_app, worker, demo, session_factory):
    phone = unique_phone(session_factory, demo, "小周")
    userid = rebind(session_factory, demo, "小周", IdentityProvider.WECOM_USERID)
    client = signin_app.test_client()
    assert send_code(client, phone).status_code == 200
    relay_pending(session_factory, limit=10_000)
    code = code_for(worker, userid)
    done = client.post("/console/login/code/verify", data={"csrf_token": csrf_of(client), "phone": phone,
                                                           "code": code})
    assert done.status_code == 303


def test_an_unknown_phone_gets_the_same_answer_and_no_message(signin_app, worker, session_factory):
    client = signin_app.test_client()
    before = len(sent_texts(worker))
    response = send_code(client, "13612345678")
    assert response.status_code == 200 and "验证码已发到您的聊天窗口" in response.get_data(as_text=True)
    relay_pending(session_factory, limit=10_000)
    assert [t for _u, t in sent_texts(worker)[before:] if "管理台登录验证码" in t] == []


def test_a_member_without_a_bound_chat_gets_nothing_but_the_same_answer(signin_app, worker, demo, session_factory):
    phone = unique_phone(session_factory, demo, "吴会计")  # the demo's accountant has no chat binding
    client = signin_app.test_client()
    response = send_code(client, phone)
    assert response.status_code == 200 and "验证码已发到您的聊天窗口" in response.get_data(as_text=True)


def test_a_malformed_phone_is_refused_in_chinese(signin_app):
    client = signin_app.test_client()
    response = send_code(client, "12345")
    assert response.status_code == 422 and "请输入11位手机号" in response.get_data(as_text=True)


def test_a_phone_in_two_orgs_chooses_the_org_after_the_code(signin_app, worker, demo, session_factory):
    from models.demo import seed_demo
    from models.uow import run

    other = run(session_factory, seed_demo, f"t-code-other-{demo.org_id}")
    phone = unique_phone(session_factory, demo, "赵经理")
    with session_factory.begin() as s:
        from sqlalchemy import update

        from models.org import Member
        s.execute(update(Member).where(Member.id == other.members["钱总监"]).values(phone=phone))
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    client = signin_app.test_client()
    send_code(client, phone)
    relay_pending(session_factory, limit=10_000)
    picked = client.post("/console/login/code/verify", data={"csrf_token": csrf_of(client), "phone": phone,
                                                             "code": code_for(worker, userid)})
    page = picked.get_data(as_text=True)
    assert picked.status_code == 200 and "选择单位" in page
    assert f'value="{other.org_id}"' in page and f'value="{demo.org_id}"' in page
    done = client.post("/console/login/pick", data={"csrf_token": csrf_of(client), "org_id": other.org_id})
    assert done.status_code == 303
    assert "钱总监" in client.get("/console/").get_data(as_text=True)
