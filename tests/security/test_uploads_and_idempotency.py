"""Findings 11, 15 and 16 (API part) of issue 10: uploads are authorised before they are decoded,
idempotency keys belong to the member who sent them, and the API's numbers are ASCII numbers."""

from __future__ import annotations

import io
import struct
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

import miniprogram_api.intake_media as intake_media
from app.factory import settings_of
from miniprogram_api.jsonfields import date_field, decimal_field, int_field
from models.errors import ValidationError
from tests.miniprogram_api.fixtures_3b import receive
from tests.miniprogram_api.media_samples import photo
from tests.security.conftest import assert_refused, rows


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (its pixel data is a few bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) \
        + chunk(b"IEND", b"")


def _post_intake(client, as_, demo, who: str, photos: list[bytes], **fields):
    data = {"site_id": str(demo.sites["SX"]), "grade_id": str(demo.grades["一级"]), "weight": "23.5", "unit": "斤",
            **{k: str(v) for k, v in fields.items()}}
    data["photos"] = [(io.BytesIO(b), f"p{i}.png") for i, b in enumerate(photos)]
    return client.post("/api/v1/intake", data=data, headers=as_(who), content_type="multipart/form-data")


def _media_files(app) -> list[Path]:
    root = Path(settings_of(app).media_root)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any uploaded photo is parsed or decoded."""
    def boom(*_a, **_k):
        raise AssertionError("a photo was decoded before the request was authorised")
    monkeypatch.setattr(intake_media, "check_photo", boom)
    monkeypatch.setattr(intake_media, "process_photo", boom)


# --- finding 11: uploads -------------------------------------------------------------------------

def test_farmer_uploading_to_a_warehouse_is_refused_before_any_photo_is_decoded(
        client, app, demo, engine, as_, no_decoding):
    before = rows(engine)
    resp = _post_intake(client, as_, demo, "王阿姨", [photo(i, fmt="PNG") for i in range(6)],
                        site_id=demo.sites["ZC"])
    assert_refused(resp, 403, "PERMISSION_DENIED", "请到收购点由收货员录入")
    assert rows(engine) == before
    assert _media_files(app) == []


def test_farmer_uploading_for_another_farmer_is_refused_before_decoding(client, app, demo, engine, as_, no_decoding):
    before = rows(engine)
    resp = _post_intake(client, as_, demo, "王阿姨", [photo(1)], party=demo.parties["李大伯"])
    assert_refused(resp, 403, "PERMISSION_DENIED", "农户只能为自己录入交售")
    assert rows(engine) == before and _media_files(app) == []


def test_an_image_with_too_many_pixels_is_refused_from_its_header(client, app, demo, engine, as_, monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("the oversized photo was decoded")
    monkeypatch.setattr(intake_media, "process_photo", boom)
    bomb = _png_header(7000, 6000)  # 42 MP claimed in 100 bytes
    assert len(bomb) < 200
    before = rows(engine)
    resp = _post_intake(client, as_, demo, "小周", [photo(1), bomb], party=demo.parties["王阿姨"])
    assert_refused(resp, 422, "PHOTO_TOO_MANY_PIXELS", "照片像素过大")
    assert rows(engine) == before and _media_files(app) == []


def test_six_big_photos_are_refused_by_the_request_pixel_budget(client, app, demo, engine, as_, monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("photos were decoded over the request budget")
    monkeypatch.setattr(intake_media, "process_photo", boom)
    before = rows(engine)
    resp = _post_intake(client, as_, demo, "小周", [_png_header(6000, 5000) for _ in range(6)],  # 6 x 30 MP
                        party=demo.parties["王阿姨"])
    assert_refused(resp, 413, "PHOTOS_TOO_MANY_PIXELS", "照片总像素过大")
    assert rows(engine) == before and _media_files(app) == []


def test_seven_photos_are_refused(client, app, demo, engine, as_, no_decoding):
    before = rows(engine)
    resp = _post_intake(client, as_, demo, "小周", [photo(i) for i in range(7)], party=demo.parties["王阿姨"])
    assert_refused(resp, 422, "TOO_MANY_PHOTOS", "一次最多上传 6 张照片")
    assert rows(engine) == before and _media_files(app) == []


def test_a_refusal_inside_the_operation_leaves_no_file(client, app, demo, engine, as_):
    """Photos decode fine, then the operation refuses (another item's grade): nothing on disk either."""
    before = rows(engine)
    resp = _post_intake(client, as_, demo, "小周", [photo(3)], party=demo.parties["王阿姨"], grade_id=10**9)
    assert_refused(resp, 404, "NOT_FOUND", "找不到")
    assert rows(engine) == before and _media_files(app) == []


def test_an_accepted_intake_stores_its_photos(client, app, demo, as_):
    resp = _post_intake(client, as_, demo, "小周", [photo(4), photo(5)], party=demo.parties["王阿姨"])
    assert resp.status_code == 200, resp.get_json()
    assert len(_media_files(app)) == 4  # two stripped images and two thumbnails
    for p in resp.get_json()["photos"]:
        assert client.get(p["image_url"], headers=as_("小周")).status_code == 200


# --- finding 15: idempotency keys belong to the member ---------------------------------------------

def _ship_body(demo) -> dict:
    return {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "3",
            "party_id": demo.parties["杭州茶城"], "unit_price": "200"}


def test_farmer_replaying_the_managers_key_gets_nothing_back(client, demo, actors, session_factory, engine, as_):
    receive(session_factory, demo, actors, "10")
    body = _ship_body(demo)
    first = client.post("/api/v1/shipments", headers={**as_("赵经理"), "Idempotency-Key": "ship-mgr-1"}, json=body)
    assert first.status_code == 200, first.get_json()
    before = rows(engine)
    replay = client.post("/api/v1/shipments", headers={**as_("王阿姨"), "Idempotency-Key": "ship-mgr-1"}, json=body)
    error = assert_refused(replay, 403, "PERMISSION_DENIED", "没有权限")
    assert first.get_json()["number"] not in replay.get_data(as_text=True)
    assert "document_id" not in error["details"]
    assert rows(engine) == before


def test_the_same_member_still_gets_his_replay(client, demo, actors, session_factory, engine, as_):
    receive(session_factory, demo, actors, "10")
    headers = {**as_("赵经理"), "Idempotency-Key": "ship-mgr-2"}
    first = client.post("/api/v1/shipments", headers=headers, json=_ship_body(demo))
    assert first.status_code == 200, first.get_json()
    before = rows(engine)
    again = client.post("/api/v1/shipments", headers=headers, json=_ship_body(demo))
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert rows(engine) == before


def test_another_member_with_the_same_key_is_a_new_request_checked_as_his(client, demo, actors, session_factory,
                                                                           engine, as_):
    """A clerk who may ship at SX and reuses the manager's key ships for himself; he never sees the manager's."""
    receive(session_factory, demo, actors, "10")
    body = _ship_body(demo)
    mgr = client.post("/api/v1/shipments", headers={**as_("赵经理"), "Idempotency-Key": "shared-k"}, json=body)
    clerk = client.post("/api/v1/shipments", headers={**as_("小周"), "Idempotency-Key": "shared-k"}, json=body)
    assert mgr.status_code == clerk.status_code == 200, clerk.get_json()
    assert clerk.get_json()["document_id"] != mgr.get_json()["document_id"]
    level = client.get("/api/v1/stock", headers=as_("小周")).get_json()["items"][0]
    assert Decimal(level["on_hand"]) == 4


def test_a_draft_confirmed_by_the_farmer_and_then_the_clerk_posts_once(client, demo, engine, as_):
    """The draft's own key stays shared: scoping keys to members must not let a second confirm post twice."""
    draft = _post_intake(client, as_, demo, "王阿姨", [])
    assert draft.status_code == 200, draft.get_json()
    url = f"/api/v1/intake/{draft.get_json()['draft_id']}/confirm"
    by_farmer = client.post(url, headers=as_("王阿姨"), json={})
    assert by_farmer.status_code == 200, by_farmer.get_json()
    before = rows(engine)
    by_clerk = client.post(url, headers=as_("小周"), json={})
    assert by_clerk.status_code == 200 and by_clerk.get_json()["number"] == by_farmer.get_json()["number"]
    assert rows(engine) == before


def test_an_offline_op_id_of_another_member_is_refused_not_replayed(client, demo, engine, as_):
    """A sync client_id is also the stock move's id: another member reusing it gets a clean 409 entry."""
    import uuid
    op = {"client_id": str(uuid.uuid4()), "kind": "receive",
          "body": {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "5",
                   "party_id": demo.parties["王阿姨"], "grade_id": demo.grades["一级"]}}
    first = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": [op]}).get_json()
    assert first["applied"] == 1, first
    before = rows(engine)
    other = client.post("/api/v1/sync", headers=as_("赵经理"), json={"operations": [op]})
    result = other.get_json()["results"][0]
    assert other.status_code == 200 and result["status"] == "conflict", result
    assert result["error"]["code"] == "IDEMPOTENCY_CONFLICT" and "其他成员" in result["error"]["message"]
    assert result["result"] is None
    assert rows(engine) == before
    mine = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": [op]}).get_json()
    assert mine["already_applied"] == 1 and mine["results"][0]["result"] == first["results"][0]["result"]


# --- finding 16 (API part): strict numbers and ids -------------------------------------------------

@pytest.mark.parametrize(("field", "value", "problem"), [
    ("quantity", "١٢٣", "阿拉伯数字"),          # Arabic-Indic digits: was read as 123
    ("quantity", "１２３", "阿拉伯数字"),        # full-width digits
    ("quantity", True, "须是数字"),
    ("site_id", True, "须是整数"),              # was read as site 1
    ("site_id", 1.0, "须是整数"),
    ("item_id", "٣", "阿拉伯数字"),
    ("unit_price", "٢٠٠", "阿拉伯数字"),
    ("business_time", 1700000000, "ISO 8601"),  # a bare number is not a time
])
def test_non_ascii_numbers_and_bools_are_refused(client, demo, actors, session_factory, engine, as_,
                                                 field, value, problem):
    receive(session_factory, demo, actors, "200")
    before = rows(engine)
    resp = client.post("/api/v1/shipments", headers=as_("赵经理"), json={**_ship_body(demo), field: value})
    error = assert_refused(resp, 422, "VALIDATION_ERROR", "请求参数有误")
    fields = error["details"]["fields"]
    assert [f["field"] for f in fields] == [field], fields
    assert problem in fields[0]["problem"]
    assert rows(engine) == before


def test_intake_form_ids_are_strict(client, app, demo, engine, as_, no_decoding):
    before = rows(engine)
    resp = _post_intake(client, as_, demo, "小周", [], site_id="true", party=demo.parties["王阿姨"])
    error = assert_refused(resp, 422, "VALIDATION_ERROR", "请求参数有误")
    assert [f["field"] for f in error["details"]["fields"]] == ["site_id"]
    resp = _post_intake(client, as_, demo, "小周", [], site_id="١", party=demo.parties["王阿姨"])
    assert_refused(resp, 422, "VALIDATION_ERROR", "请求参数有误")
    assert rows(engine) == before


def test_sync_refuses_arabic_indic_quantities(client, demo, engine, as_):
    import uuid
    before = rows(engine)
    op = {"client_id": str(uuid.uuid4()), "kind": "receive",
          "body": {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "١٢٣",
                   "party_id": demo.parties["王阿姨"], "grade_id": demo.grades["一级"]}}
    resp = client.post("/api/v1/sync", headers=as_("小周"), json={"operations": [op]})
    assert resp.status_code == 200
    result = resp.get_json()["results"][0]
    assert result["status"] == "conflict" and result["error"]["code"] == "VALIDATION_ERROR"
    assert [f["field"] for f in result["error"]["details"]["fields"]] == ["quantity"]
    assert rows(engine) == before


@pytest.mark.parametrize(("fn", "value", "message"), [
    (int_field, True, "须是整数"),
    (int_field, "١٢٣", "须是整数"),
    (int_field, 1.9, "须是整数"),
    (int_field, 2**63, "超出范围"),
    (decimal_field, "١٢٣", "阿拉伯数字"),
    (decimal_field, True, "须是数字"),
    (decimal_field, "Infinity", "阿拉伯数字"),
    (decimal_field, 1e30, "超出范围"),
    (date_field, "٢٠٢٦-١٢-٠١", "须是日期"),
    (date_field, 20261201, "须是日期"),
])
def test_untyped_json_fields_are_strict_too(fn, value, message):
    with pytest.raises(ValidationError) as caught:
        fn(value, "x")
    assert caught.value.code == "VALIDATION_ERROR" and message in caught.value.message
    assert caught.value.details["field"] == "x"


def test_untyped_json_fields_still_read_ascii_numbers():
    assert int_field("42", "x") == 42 and int_field(7, "x") == 7
    assert decimal_field("23.5", "x") == Decimal("23.5") and decimal_field(3, "x") == 3
    assert str(date_field("2026-12-01", "x")) == "2026-12-01"
