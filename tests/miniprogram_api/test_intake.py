"""Quick entry: draft (typed or spoken weight, photos, warnings) → confirm → delivery note."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from media.speech import Transcript
from models.documents import Document
from models.intake import EvidencePhoto, IntakeDraft
from models.org import Org
from tests.miniprogram_api.fixtures_3a import bearer, fx_app, fx_client, fx_platform_stub  # noqa: F401
from tests.miniprogram_api.media_samples import photo, wav


def post_intake(client, app, demo, who="小周", files=None, **fields):
    data = {"site_id": str(demo.sites["SX"]), "grade_id": str(demo.grades["一级"])}
    if who != "王阿姨":
        data["party"] = str(demo.parties["王阿姨"])
    data.update({k: str(v) for k, v in fields.items() if v is not None})
    for name, blobs in (files or {}).items():
        data[name] = [(io.BytesIO(b), f"f{i}.bin") for i, b in enumerate(blobs)] if isinstance(blobs, list) \
            else (io.BytesIO(blobs), "clip.bin")
    return client.post("/api/v1/intake", data=data, headers=bearer(app, demo, who),
                       content_type="multipart/form-data")


def counts(session_factory):
    with session_factory() as s:
        return (s.scalar(select(func.count()).select_from(IntakeDraft)),
                s.scalar(select(func.count()).select_from(Document)))


def test_typed_weight_draft_then_confirm_posts_the_delivery_note(client, app, demo, session_factory):
    resp = post_intake(client, app, demo, weight="23.5", unit="斤", files={"photos": [photo(1)]})
    assert resp.status_code == 200, resp.json
    d = resp.json
    assert d["status"] == "draft" and d["weight"]["value"] == "23.5" and d["weight"]["unit"] == "斤"
    assert Decimal(d["weight"]["kilograms"]) == Decimal("11.75") and d["weight"]["source"] == "typed"
    assert Decimal(d["unit_price"]) == 80 and Decimal(d["amount"]) == Decimal("940.00")
    assert Decimal(d["prepayment"]) == Decimal("658.00") and d["party_name"] == "王阿姨"
    assert d["photos"][0]["thumb_url"].startswith("/api/v1/media/")
    _, docs_before = counts(session_factory)
    note = client.post(f"/api/v1/intake/{d['draft_id']}/confirm", json={}, headers=bearer(app, demo, "小周"))
    assert note.status_code == 200, note.json
    n = note.json
    assert n["number"].startswith("RK-SX-") and n["grade"] == "一级" and Decimal(n["amount"]) == Decimal("940.00")
    assert Decimal(n["prepayment"]) == Decimal("658.00") and n["note_url"].split("/d/")[1]
    assert n["qr_png_base64"]
    again = client.post(f"/api/v1/intake/{d['draft_id']}/confirm", json={}, headers=bearer(app, demo, "小周"))
    assert again.json["number"] == n["number"]  # idempotent by draft id
    assert counts(session_factory)[1] == docs_before + 1  # one receipt, however often confirmed


def test_confirm_with_corrections(client, app, demo):
    d = post_intake(client, app, demo, weight="20", unit="斤").json
    n = client.post(f"/api/v1/intake/{d['draft_id']}/confirm", json={"weight": "24", "unit": "斤",
                                                                     "grade_id": demo.grades["特级"]},
                    headers=bearer(app, demo, "小周")).json
    assert n["grade"] == "特级" and Decimal(n["base_quantity"]) == 12 and Decimal(n["amount"]) == Decimal("1440.00")
    changed = client.post(f"/api/v1/intake/{d['draft_id']}/confirm", json={"weight": "25", "unit": "斤"},
                          headers=bearer(app, demo, "小周"))
    assert changed.status_code == 409 and changed.json["error"]["code"] == "IDEMPOTENCY_CONFLICT"


def test_farmer_enters_her_own_delivery(client, app, demo):
    d = post_intake(client, app, demo, who="王阿姨", weight="二十三斤半")
    assert d.status_code == 200, d.json
    assert d.json["party_name"] == "王阿姨" and Decimal(d.json["weight"]["base_quantity"]) == Decimal("11.75")
    n = client.post(f"/api/v1/intake/{d.json['draft_id']}/confirm", json={}, headers=bearer(app, demo, "王阿姨"))
    assert n.status_code == 200, n.json
    other = post_intake(client, app, demo, who="王阿姨", weight="3", party=demo.parties["李大伯"])
    assert other.status_code == 403


def test_client_id_replays_and_conflicts(client, app, demo, session_factory):
    cid = uuid.uuid4().hex
    first = post_intake(client, app, demo, weight="10", unit="公斤", client_id=cid)
    drafts_after_first = counts(session_factory)[0]
    replay = post_intake(client, app, demo, weight="10", unit="公斤", client_id=cid)
    assert replay.json["draft_id"] == first.json["draft_id"] and replay.json["replayed"] is True
    conflict = post_intake(client, app, demo, weight="11", unit="公斤", client_id=cid)
    assert conflict.status_code == 409 and conflict.json["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert counts(session_factory)[0] == drafts_after_first


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"weight": "0", "unit": "斤"}, 422, "INVALID_QUANTITY"),
    ({"weight": "2000000", "unit": "斤"}, 422, "INVALID_QUANTITY"),
    ({"weight": "9000", "unit": "公斤"}, 422, "INVALID_QUANTITY"),
    ({"weight": "3", "unit": "桶"}, 422, "UNKNOWN_UNIT"),
    ({"weight": "三桶"}, 422, "UNKNOWN_UNIT"),
    ({"weight": "abc"}, 422, "INVALID_QUANTITY"),
    ({}, 422, "VALIDATION_ERROR"),
])
def test_bad_weights_are_4xx_and_write_nothing(client, app, demo, session_factory, fields, status, code):
    before = counts(session_factory)
    resp = post_intake(client, app, demo, **fields)
    assert resp.status_code == status and resp.json["error"]["code"] == code, resp.json
    assert resp.json["error"]["message"]
    assert counts(session_factory) == before


def test_grade_of_another_item_and_ids_of_another_org(client, app, demo, session_factory):
    from models.demo import seed_demo
    from models.uow import run

    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:8]}", "别的合作社")
    before = counts(session_factory)
    assert post_intake(client, app, demo, weight="3", grade_id=other.grades["一级"]).status_code == 404
    assert post_intake(client, app, demo, weight="3", site_id=other.sites["SX"]).status_code == 404
    assert post_intake(client, app, demo, weight="3", party=other.parties["王阿姨"]).status_code == 404
    jar = post_intake(client, app, demo, weight="3", item_id=demo.items["龙井"])
    assert jar.status_code == 422 and jar.json["error"]["code"] == "GRADE_NOT_FOR_ITEM"
    assert counts(session_factory) == before
    d = post_intake(client, app, demo, weight="3").json
    stranger = client.post(f"/api/v1/intake/{d['draft_id']}/confirm", json={},
                           headers=bearer(app, other, "赵经理"))
    assert stranger.status_code == 404


def test_bad_files_are_4xx_and_write_nothing(client, app, demo, session_factory):
    before = counts(session_factory)
    fake = post_intake(client, app, demo, weight="3", files={"photos": [b"GIF89a not really a photo"]})
    assert fake.status_code == 422 and fake.json["error"]["code"] == "PHOTO_UNSUPPORTED_FORMAT"
    truncated = post_intake(client, app, demo, weight="3", files={"photos": [photo(3)[:200]]})
    assert truncated.status_code == 422 and truncated.json["error"]["code"] == "PHOTO_CORRUPT"
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, format="PNG")
    boom = post_intake(client, app, demo, weight="3", files={"photos": [bomb.getvalue()]})
    assert boom.status_code == 422 and boom.json["error"]["code"] == "PHOTO_TOO_MANY_PIXELS"
    huge = post_intake(client, app, demo, weight="3", files={"photos": [b"\xff\xd8\xff" + b"0" * (50 * 1024 * 1024)]})
    assert huge.status_code == 413 and huge.json["error"]["code"] == "UPLOAD_TOO_LARGE"
    not_audio = post_intake(client, app, demo, weight="3", files={"audio": photo(4)})
    assert not_audio.status_code in (200, 422)  # speech disabled: a typed weight wins, the clip is not read
    assert counts(session_factory)[0] <= before[0] + 1


def test_served_photos_are_stripped_and_need_auth(client, app, demo, session_factory):
    d = post_intake(client, app, demo, weight="3", files={"photos": [photo(11)]}).json
    url = d["photos"][0]["image_url"]
    assert client.get(url).status_code == 401
    served = client.get(url, headers=bearer(app, demo, "小周"))
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    img = Image.open(io.BytesIO(served.data))
    assert not img.getexif() and b"HUAWEI" not in served.data
    with session_factory() as s:  # the evidence stays in the database
        row = s.scalar(select(EvidencePhoto).where(EvidencePhoto.image_key == url.removeprefix("/api/v1/media/")))
        assert row.photo_metadata["gps_lat"] == "30.0000000" and row.photo_metadata["camera_make"] == "HUAWEI"
    from models.demo import seed_demo
    from models.uow import run

    other = run(session_factory, seed_demo, f"p-{uuid.uuid4().hex[:8]}", "别的合作社")
    assert client.get(url, headers=bearer(app, other, "赵经理")).status_code == 404


def test_duplicate_and_reused_photos_and_unusual_weight_warn(client, app, demo):
    seed = uuid.uuid4().int % 10**6
    for _ in range(3):
        d = post_intake(client, app, demo, weight="20", unit="公斤", files={"photos": [photo(seed + _)]}).json
        client.post(f"/api/v1/intake/{d['draft_id']}/confirm", json={}, headers=bearer(app, demo, "小周"))
    dup = post_intake(client, app, demo, weight="21", unit="公斤", files={"photos": [photo(seed)]}).json
    assert [w["code"] for w in dup["warnings"]] == ["PHOTO_DUPLICATE"]
    reencoded = io.BytesIO()
    Image.open(io.BytesIO(photo(seed + 1))).resize((600, 450)).save(reencoded, format="PNG")
    reused = post_intake(client, app, demo, weight="200", unit="公斤", files={"photos": [reencoded.getvalue()]}).json
    assert {w["code"] for w in reused["warnings"]} == {"PHOTO_REUSED", "WEIGHT_UNUSUAL"}


class FakeRecognizer:
    """Answers like vosk does for Chinese: words separated by spaces, a confidence."""

    def __init__(self, text: str, conf: float = 0.93) -> None:
        self.text, self.conf = text, conf

    def recognize(self, audio, *, grammar=None):
        assert "斤" in grammar and "一级" in grammar
        return Transcript(text=self.text, confidence=self.conf, words=(), seconds_processed=audio.seconds,
                          elapsed_ms=1.0)


@pytest.mark.parametrize(("heard", "kg"), [
    ("二 十 三 斤 半", "11.75"), ("二十三斤半", "11.75"), ("嗯 那个 二十三 斤 半", "11.75"),
    ("二十三 不对 二十四斤", "12"), ("三 斤 二 两", "1.6"), ("十二 公斤", "12"),
])
def test_spoken_weights(client, app, demo, monkeypatch, heard, kg):
    monkeypatch.setattr("miniprogram_api.intake_media.load_recognizer", lambda _path: FakeRecognizer(heard))
    d = post_intake(client, app, demo, files={"audio": wav(1.5)})
    assert d.status_code == 200, d.json
    assert Decimal(d.json["weight"]["kilograms"]) == Decimal(kg) and d.json["weight"]["source"] == "voice"
    assert d.json["transcript"] == heard and Decimal(d.json["weight"]["confidence"]) == Decimal("0.93")


def test_speech_problems(client, app, demo, monkeypatch, session_factory):
    before = counts(session_factory)
    disabled = post_intake(client, app, demo, files={"audio": wav(1)})
    assert disabled.status_code == 422 and disabled.json["error"]["code"] == "SPEECH_DISABLED"
    assert disabled.json["error"]["message"] == "语音识别未启用，请直接输入重量"
    typed = post_intake(client, app, demo, weight="3", files={"audio": wav(1)})
    assert typed.status_code == 200 and typed.json["warnings"][0]["code"] == "SPEECH_DISABLED"
    monkeypatch.setattr("miniprogram_api.intake_media.load_recognizer", lambda _p: FakeRecognizer("一级 嗯"))
    no_number = post_intake(client, app, demo, files={"audio": wav(1)})
    assert no_number.status_code == 422 and no_number.json["error"]["code"] == "INVALID_QUANTITY"
    silent = post_intake(client, app, demo, files={"audio": wav(1, silent=True)})
    assert silent.status_code == 422 and silent.json["error"]["code"] == "AUDIO_SILENT"
    corrupt = post_intake(client, app, demo, files={"audio": b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200))})
    assert corrupt.status_code == 422 and corrupt.json["error"]["code"] == "AUDIO_CORRUPT"
    mismatch = post_intake(client, app, demo, weight="30", unit="斤", files={"audio": wav(1)})
    assert "VOICE_NOT_UNDERSTOOD" in [w["code"] for w in mismatch.json["warnings"]]
    assert counts(session_factory)[0] == before[0] + 2  # only the two drafts that had a typed weight


def test_one_step_entry_when_the_org_allows_it(client, app, demo, monkeypatch, session_factory):
    monkeypatch.setattr("miniprogram_api.intake_media.load_recognizer", lambda _p: FakeRecognizer("五 斤", 0.95))
    low = post_intake(client, app, demo, files={"audio": wav(1), "photos": [photo(uuid.uuid4().int % 999)]},
                      auto_confirm="true")
    assert low.json["status"] == "draft"  # the org has not enabled one-step entry
    with session_factory() as s:
        s.get(Org, demo.org_id).settings = {"one_step_entry_min_confidence": 0.9}
        s.commit()
    done = post_intake(client, app, demo, files={"audio": wav(1), "photos": [photo(uuid.uuid4().int % 999 + 1000)]},
                       auto_confirm="true")
    assert done.json["status"] == "confirmed" and done.json["delivery_note"]["number"].startswith("RK-")
    monkeypatch.setattr("miniprogram_api.intake_media.load_recognizer", lambda _p: FakeRecognizer("五 斤", 0.6))
    unsure = post_intake(client, app, demo, files={"audio": wav(1)}, auto_confirm="true")
    assert unsure.json["status"] == "draft"
