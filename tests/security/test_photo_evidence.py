"""Photo evidence kept one way for every channel (issue 11 item 5).

Bot photos used to sit in ``Document.extra["photos"]``: the media route could not serve them (to
anyone) and the reuse check never saw them. Now the bot keeps EvidencePhoto rows through the same
operation as the mini-program's intake, so they are served under intake's rules, warned about when
reused, and the old extra["photos"] entries are migrated into rows.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy import func, select

from app.factory import settings_of
from bot.engine import BotServices, Inbound, handle_inbound
from models.actor import load_actor
from models.chat import ChatDialog
from models.documents import Document
from models.errors import PermissionDenied
from models.intake import EvidencePhoto
from models.operations import ReceiveGoods, receive_goods
from models.operations.evidence import AttachEvidence, attach_evidence
from models.org import IdentityProvider
from models.uow import run
from tests.bot.conftest import bind
from tests.miniprogram_api.fixtures_3b import bearer
from tests.miniprogram_api.media_samples import photo
from tests.security.conftest import assert_refused, rows


@dataclass
class FakeWeCom:
    """A chat platform whose media downloads come from a dict (no network)."""

    media: dict[str, bytes] = field(default_factory=dict)
    channel: str = "wecom"
    provider: IdentityProvider = IdentityProvider.WECOM_USERID

    def fetch_media(self, media_id: str) -> bytes:
        return self.media[media_id]

    def push_text(self, user_id: str, text: str) -> None:
        pass


class Chat:
    """One bound member chatting with the bot in-process, through the real engine and handlers."""

    def __init__(self, app, session_factory, demo, name: str) -> None:
        self.factory, self.platform = session_factory, FakeWeCom()
        self.user = bind(session_factory, demo, name, IdentityProvider.WECOM_USERID)
        self.services = BotServices(None, settings_of(app).media_root)

    def _send(self, **kw) -> str:
        inbound = Inbound("wecom", self.user, f"t:{uuid.uuid4().hex}", **kw)
        return handle_inbound(self.factory, self.platform, inbound, self.services)

    def say(self, text: str) -> str:
        return self._send(text=text)

    def photo(self, data: bytes) -> str:
        media_id = uuid.uuid4().hex
        self.platform.media[media_id] = data
        return self._send(kind="image", media_id=media_id)


def _receipt_photos(session_factory, demo, reply: str) -> tuple[Document, list[EvidencePhoto]]:
    number = re.search(r"RK-SX-\d{8}-\d{4}", reply).group()
    with session_factory() as s:
        doc = s.scalar(select(Document).where(Document.org_id == demo.org_id, Document.number == number))
        kept = list(s.scalars(select(EvidencePhoto).where(EvidencePhoto.document_id == doc.id)
                              .order_by(EvidencePhoto.position)))
        s.expunge_all()
    return doc, kept


def _reencoded(data: bytes) -> bytes:
    """The same scene saved again (PNG, smaller): other bytes, a near-identical perceptual hash."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).resize((600, 450)).save(out, format="PNG")
    return out.getvalue()


def test_bot_photo_is_served_to_its_org_and_refused_to_another(app, client, demo, session_factory, engine):
    boss = Chat(app, session_factory, demo, "赵经理")
    assert "请确认入库" in boss.say("入库 茶青 特级 10公斤 李大伯 绍兴")
    assert "共 1 张" in boss.photo(photo(uuid.uuid4().int % 10**6))
    done = boss.say("确认")
    assert "附照片 1 张" in done
    doc, kept = _receipt_photos(session_factory, demo, done)
    assert "photos" not in (doc.extra or {})
    assert [(p.source, p.party_id, p.uploaded_by, p.draft_id) for p in kept] == [
        ("wecom", demo.parties["李大伯"], demo.members["赵经理"], None)]
    image_url, thumb_url = f"/api/v1/media/{kept[0].image_key}", f"/api/v1/media/{kept[0].thumb_key}"

    # The clerk of the same co-op sees the photo and its thumbnail, stripped of EXIF and GPS.
    served = client.get(image_url, headers=bearer(app, demo, "小周"))
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert not Image.open(io.BytesIO(served.data)).getexif()
    thumb = client.get(thumb_url, headers=bearer(app, demo, "小周"))
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.data)).size) <= 320

    from models.demo import seed_demo

    other = run(session_factory, seed_demo, f"p-{uuid.uuid4().hex[:8]}", "别的合作社")
    before = rows(engine)
    for url in (image_url, thumb_url):
        assert_refused(client.get(url, headers=bearer(app, other, "赵经理")), 404, "NOT_FOUND", "找不到该照片")
        # A farmer sees her own deliveries' photos only: this one is 李大伯's, not 王阿姨's.
        assert_refused(client.get(url, headers=bearer(app, demo, "王阿姨")), 404, "NOT_FOUND", "找不到该照片")
    assert client.get(image_url).status_code == 401
    assert rows(engine) == before


def test_photo_reused_through_the_bot_gets_the_reuse_warning(app, client, demo, session_factory):
    seed = uuid.uuid4().int % 10**6
    first = photo(seed)
    boss = Chat(app, session_factory, demo, "赵经理")
    boss.say("入库 茶青 特级 10公斤 李大伯 绍兴")
    assert "⚠" not in boss.photo(first)
    boss.say("确认")

    boss.say("入库 茶青 特级 12公斤 李大伯 绍兴")
    again = boss.photo(first)
    assert "共 1 张" in again and re.search(r"⚠ 第1张照片在 \d{4}-\d{2}-\d{2} 已经上传过", again), again
    similar = boss.photo(_reencoded(first))
    assert "共 2 张" in similar and re.search(r"⚠ 第2张照片与 \d{4}-\d{2}-\d{2} 交售的照片几乎相同", similar), similar
    # The same photo twice in one entry is kept once, without a warning.
    assert "共 2 张" in boss.photo(first) and "⚠" not in boss.photo(first)
    done = boss.say("确认")
    assert "附照片 2 张" in done
    _, kept = _receipt_photos(session_factory, demo, done)
    assert len(kept) == 2  # warned, not refused: the reused photo is itself evidence

    # Across channels: a photo from the mini-program's intake, sent again through the bot.
    intake_photo = photo(seed + 7)
    resp = client.post("/api/v1/intake", data={
        "site_id": str(demo.sites["SX"]), "grade_id": str(demo.grades["一级"]), "party": str(demo.parties["王阿姨"]),
        "weight": "5", "unit": "公斤", "photos": [(io.BytesIO(intake_photo), "p.jpg")]},
        headers=bearer(app, demo, "小周"), content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    boss.say("入库 茶青 特级 8公斤 王阿姨 绍兴")
    assert re.search(r"⚠ 第1张照片在 \d{4}-\d{2}-\d{2} 已经上传过", boss.photo(intake_photo))
    boss.say("取消")


def test_pending_photos_of_another_member_cannot_be_filed(app, demo, actors, session_factory, engine):
    boss = Chat(app, session_factory, demo, "赵经理")
    boss.say("入库 茶青 特级 10公斤 李大伯 绍兴")
    boss.photo(photo(uuid.uuid4().int % 10**6))
    with session_factory() as s:
        pending = s.scalar(select(ChatDialog).where(ChatDialog.org_id == demo.org_id,
                                                   ChatDialog.external_id == boss.user)).evidence
    assert len(pending) == 1
    mine = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("3"),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    before = rows(engine)
    with session_factory() as s, pytest.raises(PermissionDenied) as refused:
        attach_evidence(s, load_actor(s, demo.members["小周"]),
                        AttachEvidence(document_id=mine.document_id, pending_ids=tuple(pending)))
    assert refused.value.code == "PERMISSION_DENIED" and "自己待确认登记的照片" in refused.value.message
    with session_factory() as s:
        row = s.get_one(EvidencePhoto, pending[0])
        assert (row.document_id, row.party_id) == (None, demo.parties["李大伯"])
    assert rows(engine) == before
    boss.say("取消")


def test_migration_moves_extra_photos_into_evidence_rows(tmp_path, scratch_database_url, monkeypatch):
    """Stamp-like replay: at the previous revision a bot receipt carries extra["photos"]; upgrade moves it."""

    from alembic import command
    from alembic.config import Config

    from app.cli import migrate
    from media.evidence import STORED_SIDE, store_photo
    from media.photos import process_photo
    from media.storage import LocalMediaStorage, key_for
    from models.actor import load_actor
    from models.db import make_engine, make_session_factory
    from models.demo import seed_demo
    from models.operations.intake_checks import photo_warnings

    url = scratch_database_url
    media_root = tmp_path / "media"
    monkeypatch.setenv("MEDIA_ROOT", str(media_root))
    migrate(url)
    engine = make_engine(url)
    try:
        sf = make_session_factory(engine)
        demo = run(sf, seed_demo, f"m-{uuid.uuid4().hex[:8]}")
        with sf() as s:
            clerk = load_actor(s, demo.members["小周"])
        doc = run(sf, receive_goods, clerk, ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("4"),
            party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
        processed = process_photo(photo(uuid.uuid4().int % 10**6), max_side=STORED_SIDE)
        stored = store_photo(LocalMediaStorage(Path(media_root)), processed)
        lost = key_for("ab" * 32, "jpg")  # its file is gone: still moved, with a hash that matches nothing

        cfg = Config(str(Path(__file__).resolve().parents[2] / "alembic.ini"))
        cfg.cmd_opts = __import__("argparse").Namespace(x=[f"url={url}"])
        command.downgrade(cfg, "7ec3350228bd")  # to just before this revision (later ones go down too)
        with engine.begin() as conn:  # as the old bot left it
            documents = sa.table("documents", sa.column("id"), sa.column("extra", sa.JSON()))
            conn.execute(documents.update().where(documents.c.id == doc.document_id).values(
                extra={"photos": [stored.image_key, lost, stored.image_key], "client_id": "c-1"}))
        command.upgrade(cfg, "head")  # back up through this revision (and any later ones)
        with sf() as s:
            kept = s.scalars(select(EvidencePhoto).where(EvidencePhoto.document_id == doc.document_id)
                             .order_by(EvidencePhoto.position)).all()
            assert [(p.image_key, p.thumb_key, p.sha256, p.source, p.party_id, p.uploaded_by, p.position)
                    for p in kept] == [
                (stored.image_key, stored.thumb_key, processed.sha256, "chat", demo.parties["王阿姨"],
                 demo.members["小周"], 0),
                (lost, key_for("ab" * 32, "thumb.jpg"), "ab" * 32, "chat", demo.parties["王阿姨"],
                 demo.members["小周"], 1)]
            assert re.fullmatch(r"[0-9a-f]{16}", kept[0].phash) and kept[0].width > 0 and kept[1].phash == ""
            assert s.get_one(Document, doc.document_id).extra == {"client_id": "c-1"}
            # Now the reuse check sees the bot's old photo.
            warned = photo_warnings(s, demo.org_id, demo.parties["王阿姨"], [(processed.sha256, processed.phash)])
            assert [w["code"] for w in warned] == ["PHOTO_DUPLICATE"]
            assert s.scalar(select(func.count()).select_from(EvidencePhoto).where(
                EvidencePhoto.org_id == demo.org_id)) == 2
    finally:
        engine.dispose()


def test_a_photo_is_seen_only_at_the_sites_where_a_member_may_see_stock(session_factory, engine, demo, actors):
    """A clerk of 绍兴收购点 does not see the evidence of a 总仓 receipt; its storekeeper and the manager do."""
    from models.operations.evidence import PhotoEvidence, photo_visible

    receipt = run(session_factory, receive_goods, actors["钱总监"], ReceiveGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["龙井"], quantity=Decimal(3), unit="箱",
        party_id=demo.parties["包装厂"], unit_price=Decimal(60), price_reason="样品"))
    key = f"zc/{uuid.uuid4().hex}"
    run(session_factory, attach_evidence, actors["老孙"], AttachEvidence(document_id=receipt.document_id, photos=(
        PhotoEvidence("0" * 64, "0" * 16, "jpeg", 8, 8, f"{key}.jpg", f"{key}.thumb.jpg"),), source="chat"))
    with session_factory() as s:
        seen = {name: photo_visible(s, actors[name], f"{key}.jpg") for name in ("小周", "老孙", "赵经理", "王阿姨")}
    assert seen == {"小周": False, "老孙": True, "赵经理": True, "王阿姨": False}
