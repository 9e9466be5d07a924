"""POST /api/v1/auth/code and /code/verify: the console's chat-code login, for API clients."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.factory import create_app
from models.infra import OutboxEvent
from models.org import IdentityProvider
from tests.console.signin_fixtures import rebind, unique_phone


@pytest.fixture
def api_app(database_url: str, tmp_path):
    return create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path)})


def _code_sent_to(session_factory, user_id: str) -> str:
    with session_factory() as s:
        texts = [e.payload["text"] for e in s.scalars(select(OutboxEvent).where(OutboxEvent.kind == "chat.push"))
                 if e.payload.get("user_id") == user_id]
    return re.search(r"(\d{6})", texts[-1]).group(1)


def test_a_code_from_the_chat_buys_a_token(api_app, demo, session_factory):
    phone = unique_phone(session_factory, demo, "赵经理")
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    client = api_app.test_client()
    sent = client.post("/api/v1/auth/code", json={"phone": phone})
    assert sent.status_code == 200 and "验证码已发到您的聊天窗口" in sent.get_json()["message"]
    code = _code_sent_to(session_factory, userid)
    other = f"{(int(code) + 1) % 1_000_000:06d}"
    wrong = client.post("/api/v1/auth/code/verify", json={"phone": phone, "code": other})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "LOGIN_CODE_INVALID"
    ok = client.post("/api/v1/auth/code/verify", json={"phone": phone, "code": code}).get_json()
    assert ok["member"]["member_id"] == demo.members["赵经理"] and ok["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {ok['token']}"})
    assert me.status_code == 200


def test_the_send_answer_is_the_same_for_an_unknown_phone_and_junk_is_422(api_app):
    client = api_app.test_client()
    answer = client.post("/api/v1/auth/code", json={"phone": "13655577700"})
    assert answer.status_code in (200, 429)
    assert client.post("/api/v1/auth/code", json={"phone": "abc"}).status_code == 422
    assert client.post("/api/v1/auth/code/verify", json={"phone": "13655577700", "code": "x" * 50}).status_code == 422
