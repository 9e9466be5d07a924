"""Console sign-in: sessions are cookies that are HttpOnly, SameSite, CSRF-protected and expire."""

from __future__ import annotations

import time

from sqlalchemy import update

from console import web
from models.org import Member
from tests.console.conftest import csrf_of, post, sign_in


def test_a_page_without_a_session_sends_the_browser_to_sign_in(console_app):
    response = console_app.test_client().get("/console/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login?next=/console/")


def test_dev_login_sets_a_hardened_cookie_and_shows_today(console_app, demo):
    client = console_app.test_client()
    response = client.post("/console/login/dev", data={
        "csrf_token": csrf_of(client), "phone": "13900000003", "org_id": demo.org_id, "next": "/console/"})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    page = client.get("/console/").get_data(as_text=True)
    assert "赵经理" in page and "待我处理" in page


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(console_as):
    client = console_as("赵经理")
    response = client.post("/console/logout", data={})
    assert response.status_code == 400 and "CSRF_INVALID" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 200  # still signed in: the forged sign-out did nothing


def test_a_token_from_another_session_is_refused(console_app, demo):
    first, second = console_app.test_client(), console_app.test_client()
    sign_in(first, demo, "赵经理")
    sign_in(second, demo, "小周")
    stolen = csrf_of(first, "/console/")
    assert second.post("/console/logout", data={"csrf_token": stolen}).status_code == 400


def test_sign_out_ends_the_session(console_as):
    client = console_as("赵经理")
    assert post(client, "/console/logout").status_code == 303
    assert client.get("/console/").status_code == 302


def test_the_session_expires_after_the_idle_limit(console_as, monkeypatch):
    client = console_as("赵经理")
    later = time.time() + web.IDLE_LIFETIME_S + 5
    monkeypatch.setattr(web.time, "time", lambda: later)
    assert client.get("/console/").status_code == 302


def test_a_deactivated_member_is_signed_out_at_the_next_request(console_as, demo, session_factory):
    client = console_as("赵经理")
    with session_factory.begin() as s:
        s.execute(update(Member).where(Member.id == demo.members["赵经理"]).values(active=False))
    try:
        assert client.get("/console/").status_code == 302
    finally:
        with session_factory.begin() as s:
            s.execute(update(Member).where(Member.id == demo.members["赵经理"]).values(active=True))


def test_next_never_leaves_the_console(console_app, demo):
    client = console_app.test_client()
    response = client.post("/console/login/dev", data={
        "csrf_token": csrf_of(client), "phone": "13900000003", "org_id": demo.org_id,
        "next": "https://evil.example/console"})
    assert response.headers["Location"] == "/console/"


def test_dev_login_is_absent_in_production(database_url, tmp_path):
    from app.factory import create_app

    app = create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path), "LIUZHUAN_ENV": "production",
                      "SECRET_KEY": "x" * 40, "PUBLIC_BASE_URL": "https://lz.example.cn"})
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    assert "开发登录" not in page
    response = client.post("/console/login/dev", data={"csrf_token": csrf_of(client), "phone": "13900000003"})
    assert response.status_code == 404


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(console_app, console_as):
    client = console_as("赵经理")
    copied = client.get_cookie("lz_console")
    assert copied is not None
    assert post(client, "/console/logout").status_code == 303
    thief = console_app.test_client(use_cookies=False)
    assert thief.get("/console/", headers={"Cookie": f"lz_console={copied.value}"}).status_code == 302


def test_the_cookie_holds_no_member_id_only_a_random_token(console_as, session_factory, demo):
    from sqlalchemy import select

    from models.identity import ConsoleSession

    console_as("赵经理")
    with session_factory() as s:
        row = s.scalars(select(ConsoleSession).where(ConsoleSession.member_id == demo.members["赵经理"])).first()
    assert row is not None and len(row.token_hash) == 64 and row.ended_at is None and row.method == "dev"
