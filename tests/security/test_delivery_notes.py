"""Finding 17 (delivery notes) of issue 10: the Host header decided the note's URL and QR code, and
note links never expired and could not be revoked."""

from __future__ import annotations

import base64
import time

from sqlalchemy import select

from app.factory import settings_of
from miniprogram_api.delivery_note import note_token, qr_png
from models.infra import AuditEntry
from tests.security.conftest import assert_refused, rows

JSON = {"Accept": "application/json"}


def _confirmed_note(client, demo, as_, **headers) -> dict:
    data = {"site_id": str(demo.sites["SX"]), "grade_id": str(demo.grades["一级"]), "weight": "23.5", "unit": "斤",
            "party": str(demo.parties["王阿姨"])}
    draft = client.post("/api/v1/intake", data=data, headers={**as_("小周"), **headers},
                        content_type="multipart/form-data")
    assert draft.status_code == 200, draft.get_json()
    note = client.post(f"/api/v1/intake/{draft.get_json()['draft_id']}/confirm", json={},
                       headers={**as_("小周"), **headers})
    assert note.status_code == 200, note.get_json()
    return {**note.get_json(), "draft_id": draft.get_json()["draft_id"]}


def _path(app, url: str) -> str:
    base = settings_of(app).public_base_url
    assert url.startswith(base + "/d/"), url
    return url.removeprefix(base)


def test_a_spoofed_host_header_does_not_change_the_link_or_qr(client, app, demo, as_):
    note = _confirmed_note(client, demo, as_, Host="evil.example")
    base = settings_of(app).public_base_url
    assert base == "http://127.0.0.1:8000"  # the development default
    assert note["note_url"].startswith(base + "/d/") and "evil" not in note["note_url"]
    assert base64.b64decode(note["qr_png_base64"]) == qr_png(note["note_url"])
    path = _path(app, note["note_url"])
    qr = client.get(path + "/qr.png", headers={"Host": "evil.example"})
    assert qr.status_code == 200 and qr.data == qr_png(note["note_url"])
    shown = client.get(path, headers={"Host": "evil.example"})
    assert shown.status_code == 200 and "evil.example" not in shown.get_data(as_text=True)


def test_the_link_base_is_configured(database_url, tmp_path, demo):
    from app.factory import create_app
    from tests.miniprogram_api.fixtures_3b import bearer

    app = create_app({"DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "m"), "VOSK_MODEL_PATH": "",
                      "WECHAT_MINIPROGRAM_APP_ID": "", "LIUZHUAN_VAR_DIR": str(tmp_path),
                      "PUBLIC_BASE_URL": "https://lz.example.cn/"})
    client = app.test_client()
    note = _confirmed_note(client, demo, lambda name: bearer(app, demo, name))
    assert note["note_url"].startswith("https://lz.example.cn/d/")


def test_production_requires_a_public_base_url():
    import pytest

    from app.settings import Settings
    from models.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        Settings.from_env({"LIUZHUAN_ENV": "production", "SECRET_KEY": "k" * 16 + "Zq83jd0Lw1Xp4v9A"})
    assert caught.value.details["field"] == "PUBLIC_BASE_URL" and "PUBLIC_BASE_URL" in caught.value.message


def test_an_expired_link_answers_410(client, app, demo, as_, engine):
    note = _confirmed_note(client, demo, as_)
    days = settings_of(app).note_link_days
    assert days == 90
    with app.test_request_context():
        old = note_token(demo.org_id, note["document_id"], issued_at=time.time() - (days * 86400 + 60))
        fresh = note_token(demo.org_id, note["document_id"], issued_at=time.time() - (days * 86400 - 600))
    before = rows(engine)
    assert_refused(client.get(f"/d/{old}", headers=JSON), 410, "NOTE_LINK_EXPIRED", "链接已过期")
    assert_refused(client.get(f"/d/{old}"), 410, "NOTE_LINK_EXPIRED", "链接已过期")  # no Accept: JSON
    assert_refused(client.get(f"/d/{old}/qr.png", headers=JSON), 410, "NOTE_LINK_EXPIRED", "链接已过期")
    page = client.get(f"/d/{old}", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 410 and "链接已过期" in page.get_data(as_text=True)
    assert note["number"] not in page.get_data(as_text=True)
    assert client.get(f"/d/{fresh}").status_code == 200
    assert rows(engine) == before


def test_a_link_without_expiry_from_before_is_expired(client, app, demo, as_):
    from itsdangerous import URLSafeSerializer

    note = _confirmed_note(client, demo, as_)
    legacy = URLSafeSerializer(app.config["SECRET_KEY"], salt="liuzhuan.delivery-note.v1").dumps(
        [demo.org_id, note["document_id"]])
    assert_refused(client.get(f"/d/{legacy}", headers=JSON), 410, "NOTE_LINK_EXPIRED", "链接已过期")


def test_a_revoked_link_answers_410_and_a_new_link_works(client, app, demo, as_, session_factory):
    note = _confirmed_note(client, demo, as_)
    path = _path(app, note["note_url"])
    assert client.get(path).status_code == 200
    resp = client.post(f"/api/v1/delivery-notes/{note['document_id']}/revoke", headers=as_("小周"),
                       json={"reason": "转发错了人"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["number"] == note["number"]
    assert_refused(client.get(path, headers=JSON), 410, "NOTE_LINK_REVOKED", "链接已被撤销")
    assert_refused(client.get(path + "/qr.png", headers=JSON), 410, "NOTE_LINK_REVOKED", "链接已被撤销")
    html = client.get(path, headers={"Accept": "text/html"})
    assert html.status_code == 410 and "链接已被撤销" in html.get_data(as_text=True)
    with session_factory() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.org_id == demo.org_id,
                                                   AuditEntry.action == "delivery_note.revoke_links")).all()
    assert [(a.entity_id, a.reason, a.actor_id) for a in audit] == [
        (str(note["document_id"]), "转发错了人", demo.members["小周"])]
    again = client.get(f"/api/v1/intake/{note['draft_id']}", headers=as_("小周"))
    assert again.status_code == 200
    new_path = _path(app, again.get_json()["delivery_note"]["note_url"])
    assert new_path != path and client.get(new_path).status_code == 200


def test_revoking_needs_receive_at_the_site_or_being_the_creator(client, app, demo, as_, engine):
    note = _confirmed_note(client, demo, as_)
    before = rows(engine)
    for who in ("老孙", "王阿姨"):  # storekeeper of other sites; the farmer did not enter it
        resp = client.post(f"/api/v1/delivery-notes/{note['document_id']}/revoke", headers=as_(who), json={})
        assert_refused(resp, 403, "PERMISSION_DENIED", "撤销交货单链接")
    assert rows(engine) == before
    assert client.get(_path(app, note["note_url"])).status_code == 200
