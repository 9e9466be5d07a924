# ruff: noqa: F811  (the console fixtures are imported by name and requested as arguments)
"""Attacks on the console's 单据 section: another org's documents and photos, reversing without the
permission, a missing CSRF token, double submits, absurd and negative numbers. Every refusal writes
nothing (``rows(engine)`` before == after)."""

from __future__ import annotations

import re
import uuid

import pytest

from media.storage import LocalMediaStorage
from models.demo import seed_demo
from models.documents import DocKind, Document
from models.intake import EvidencePhoto
from models.uow import run
from tests.console.conftest import console_app, console_as, post  # noqa: F401  (the console's fixtures)
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import rows

NEW = "/console/documents/new/"


def _photo(session_factory, org_id: int, document_id: int, key: str) -> int:
    with session_factory() as s:
        photo = EvidencePhoto(org_id=org_id, document_id=document_id, sha256="0" * 64, phash="0" * 16, format="jpeg",
                              width=10, height=10, image_key=key, thumb_key=key)
        s.add(photo)
        s.commit()
        return photo.id


@pytest.fixture
def stranger(session_factory):
    """Another co-operative with a posted receipt of its own."""
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        from models.actor import load_actor
        actors = {"赵经理": load_actor(s, other.members["赵经理"])}
    return other, receive(session_factory, other, actors, qty="9")


def test_another_orgs_document_and_photo_are_not_found(console_as, console_app, stranger, session_factory):
    other, receipt = stranger
    key = f"evidence/{uuid.uuid4().hex}.jpg"
    store = LocalMediaStorage(console_app.extensions["liuzhuan"]["settings"].media_root)
    store.put(key, b"\xff\xd8secret", "image/jpeg")
    photo = _photo(session_factory, other.org_id, receipt.document_id, key)
    client = console_as("钱总监")
    for path in (f"/console/documents/{receipt.document_id}", f"/console/documents/photos/{photo}",
                 f"/console/documents/photos/{photo}?size=full",
                 f"/console/documents/{receipt.document_id}/delivery-note.pdf",
                 f"/console/documents/{receipt.document_id}/shipment.pdf"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"secret" not in response.data
    link = f'href="/console/documents/{receipt.document_id}"'
    assert link not in client.get("/console/documents").get_data(as_text=True)
    assert link not in client.get(f"/console/documents?q={receipt.number}").get_data(as_text=True)


def test_own_photo_is_served_only_to_who_may_see_its_document(console_as, console_app, demo, actors,
                                                               session_factory):
    receipt = receive(session_factory, demo, actors, qty="9", site="SX")
    key = f"evidence/{uuid.uuid4().hex}.jpg"
    LocalMediaStorage(console_app.extensions["liuzhuan"]["settings"].media_root).put(key, b"\xff\xd8ours", "image/jpeg")
    photo = _photo(session_factory, demo.org_id, receipt.document_id, key)
    assert console_as("小周").get(f"/console/documents/photos/{photo}").data == b"\xff\xd8ours"
    assert f"/console/documents/photos/{photo}" in console_as("赵经理").get(
        f"/console/documents/{receipt.document_id}").get_data(as_text=True)
    assert console_as("老孙").get(f"/console/documents/photos/{photo}").status_code == 404  # ZC/MD only


def test_reverse_without_permission_or_across_orgs_writes_nothing(console_as, demo, actors, session_factory,
                                                                   engine, stranger):
    _other, foreign = stranger
    receipt = receive(session_factory, demo, actors, qty="9")
    path = f"/console/documents/{receipt.document_id}"
    clerk = console_as("小周")
    before = rows(engine)
    refused = post(clerk, path + "/reverse", {"reason": "想改", "request_id": str(uuid.uuid4())}, page=path)
    assert refused.status_code == 303
    assert "没有权限：冲销单据" in clerk.get(path).get_data(as_text=True)
    manager = console_as("赵经理")
    post(manager, f"/console/documents/{foreign.document_id}/reverse",
         {"reason": "跨社", "request_id": str(uuid.uuid4())}, page=path)
    assert "找不到" in manager.get(path).get_data(as_text=True)
    no_reason = post(manager, path + "/reverse", {"reason": "  ", "request_id": str(uuid.uuid4())}, page=path)
    assert no_reason.status_code == 303 and "冲销须写明原因" in manager.get(path).get_data(as_text=True)
    assert rows(engine) == before


def test_missing_csrf_is_refused_and_writes_nothing(console_as, demo, actors, session_factory, engine):
    receipt = receive(session_factory, demo, actors, qty="9")
    client = console_as("钱总监")
    before = rows(engine)
    response = client.post(f"/console/documents/{receipt.document_id}/reverse",
                           data={"reason": "无令牌", "request_id": str(uuid.uuid4())})
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    response = client.post(NEW + "transfer", data={"request_id": str(uuid.uuid4()), "from_site": demo.sites["ZC"],
                                                   "to_site": demo.sites["MD"], "item_0": demo.items["龙井"],
                                                   "qty_0": "1"})
    assert response.status_code == 400
    assert rows(engine) == before


def test_double_submit_reverses_once(console_as, demo, actors, session_factory, engine):
    receipt = receive(session_factory, demo, actors, qty="9")
    path = f"/console/documents/{receipt.document_id}"
    client = console_as("钱总监")
    form = {"reason": "重复点击", "request_id": str(uuid.uuid4())}
    first = post(client, path + "/reverse", form, page=path)
    after_first = rows(engine)
    second = post(client, path + "/reverse", form, page=path)
    assert first.headers["Location"] == second.headers["Location"]
    assert rows(engine) == after_first
    again = post(client, path + "/reverse", {**form, "request_id": str(uuid.uuid4())}, page=path)
    assert again.status_code == 303 and rows(engine) == after_first  # a second reversal is refused by state
    with session_factory() as s:
        assert s.query(Document).filter_by(reverses_document_id=receipt.document_id).count() == 1


@pytest.mark.parametrize(("kind", "fields", "message"), [
    ("purchase_order", {"qty_0": "-5", "price_0": "1"}, "不能为负"),
    ("purchase_order", {"qty_0": "5", "price_0": "-1"}, "不能为负"),
    ("purchase_order", {"qty_0": "1e30", "price_0": "1"}, "必须是数字"),
    ("purchase_order", {"qty_0": "123456789012345", "price_0": "1"}, "必须是数字"),
    ("purchase_order", {"qty_0": "5", "price_0": "99999999"}, "单价过大"),
    ("purchase_order", {"qty_0": "5000000", "price_0": "1"}, "数量过大"),
    ("purchase_order", {"qty_0": "NaN", "price_0": "1"}, "必须是数字"),
    ("purchase_order", {"qty_0": "1.0000001", "price_0": "1"}, "六位小数"),
    ("purchase_order", {"qty_0": "0", "price_0": "1"}, "大于零"),
    ("count", {"qty_0": "-1"}, "不能为负"),
    ("shipment", {"qty_0": "1", "price_0": "abc"}, "必须是数字"),
    ("transfer", {"qty_0": "１２"}, "必须是数字"),
])
def test_absurd_or_negative_numbers_are_refused_in_chinese(console_as, demo, engine, kind, fields, message):
    client = console_as("钱总监")
    base = {"request_id": str(uuid.uuid4()), "site": demo.sites["ZC"], "party": demo.parties["包装厂"],
            "from_site": demo.sites["ZC"], "to_site": demo.sites["MD"], "item_0": demo.items["龙井"]}
    before = rows(engine)
    response = post(client, NEW + kind, {**base, **fields}, page=NEW + kind)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert re.search(message, response.get_data(as_text=True))
    assert rows(engine) == before


def test_another_orgs_ids_in_a_form_are_not_found(console_as, demo, engine, stranger):
    other, _receipt = stranger
    client = console_as("钱总监")
    before = rows(engine)
    response = post(client, NEW + "purchase_order", {
        "request_id": str(uuid.uuid4()), "site": demo.sites["ZC"], "party": other.parties["包装厂"],
        "item_0": demo.items["龙井"], "qty_0": "1", "price_0": "1"}, page=NEW + "purchase_order")
    assert response.status_code == 303
    assert "找不到" in client.get(NEW + "purchase_order").get_data(as_text=True)
    response = post(client, NEW + "transfer", {
        "request_id": str(uuid.uuid4()), "from_site": other.sites["ZC"], "to_site": demo.sites["MD"],
        "item_0": demo.items["龙井"], "qty_0": "1"}, page=NEW + "transfer")
    assert response.status_code == 303
    assert rows(engine) == before


def test_a_forged_form_id_or_kind_is_refused(console_as, demo, engine):
    client = console_as("钱总监")
    before = rows(engine)
    bad = post(client, NEW + "transfer", {"request_id": "not-a-uuid", "from_site": demo.sites["ZC"],
                                          "to_site": demo.sites["MD"], "item_0": demo.items["龙井"], "qty_0": "1"},
               page=NEW + "transfer")
    assert bad.status_code == 422 and "表单已失效" in bad.get_data(as_text=True)
    assert post(client, NEW + "settlement", {"request_id": str(uuid.uuid4())}).status_code in (303, 404)
    assert client.get(NEW + "settlement").status_code == 404
    assert rows(engine) == before
    assert DocKind.SETTLEMENT  # the kind exists; the console just does not write it here
