"""Quick entry: POST /api/v1/intake (photos + voice/typed weight + grade → draft), then confirm.

Voice: with no speech model installed (VOSK_MODEL_PATH unset) an intake that carries a typed weight
still succeeds and lists the warning SPEECH_DISABLED; one with only a recording answers 422
SPEECH_DISABLED "语音识别未启用，请直接输入重量" (details.fallback = "weight"), so the client shows the
weight field and sends again. Nothing is written in that case.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Annotated, Any

from flask import Flask, Response, current_app, jsonify
from flask_openapi3 import APIBlueprint, FileStorage, Tag
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from app.factory import settings_of
from miniprogram_api.apiutil import Id
from miniprogram_api.delivery_note import NoteOut, Plain, note_out
from miniprogram_api.errors import ErrorBody
from miniprogram_api.intake_media import (
    check_photos,
    decode_photos,
    read_photos,
    recognise,
    request_digest,
    storage,
    store_photos,
)
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.catalog import Grade
from models.errors import ValidationError
from models.operations.intake import (
    ConfirmIntake,
    CreateIntake,
    DraftView,
    authorize_intake,
    confirm_intake,
    create_intake,
    draft_view,
    load_draft,
)
from models.queries.photos import read_photo
from models.uow import run

api = APIBlueprint("intake", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="快速录入")],
                   abp_security=[{"bearer": []}],
                   abp_responses={k: ErrorBody for k in ("401", "403", "404", "409", "413", "422")})
#: Photo processing runs here while the request thread recognises speech.
_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="intake-photos")


def _as_text(value: Any) -> Any:
    # flask-openapi3 json-decodes form values ("23.5" arrives as 23.5); the weight parser wants text.
    return value if value is None or isinstance(value, str) else str(value)


FormText = Annotated[str | None, BeforeValidator(_as_text)]
# Optional, yet documented as plainly binary: flask-openapi3 reads only such fields from request.files.
OptionalFile = Annotated[FileStorage | None, WithJsonSchema({"format": "binary", "type": "string"})]


class IntakeForm(BaseModel):
    photos: list[FileStorage] = Field(default_factory=list, description="JPEG/PNG/WebP/HEIC，按内容识别")
    audio: OptionalFile = Field(None, description="mp3/aac/m4a/wav/amr/silk 录音，60 秒内")
    site_id: Id
    grade_id: Id | None = None
    item_id: Id | None = Field(None, description="缺省：本单位唯一带等级的商品")
    party: Id | None = Field(None, description="交售农户（收货员选择）；农户本人可不填")
    weight: FormText = Field(None, max_length=32, description="手输重量，如 23.5 或 二十三斤半")
    unit: FormText = Field(None, max_length=16, description="手输重量的单位，如 斤")
    client_id: FormText = Field(None, min_length=1, max_length=64, description="客户端生成的编号，重发不重复录入")
    auto_confirm: bool = Field(False, description="识别置信度够高且无警告时一步入库（单位设置允许时）")


class WeightOut(BaseModel):
    value: Plain
    unit: str
    base_quantity: Plain = Field(description="折合基本单位的精确数量")
    base_unit: str
    kilograms: Plain | None = Field(description="折合公斤（基本单位为公斤时）")
    confidence: Plain
    source: str = Field(description="typed | voice")


class PhotoOut(BaseModel):
    thumb_url: str
    image_url: str


class WarningOut(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class DraftOut(BaseModel):
    draft_id: uuid.UUID
    status: str
    site_id: int
    item_id: int
    item_name: str
    party_id: int
    party_name: str
    grade_id: int | None
    grade_name: str | None
    unit_price: Plain
    transcript: str | None
    weight: WeightOut
    amount: Decimal
    prepayment: Decimal
    photos: list[PhotoOut]
    warnings: list[WarningOut]
    replayed: bool
    delivery_note: NoteOut | None = None


class DraftPath(BaseModel):
    draft_id: uuid.UUID


class ConfirmIn(BaseModel):
    weight: str | None = Field(None, max_length=32, description="更正重量")
    unit: str | None = Field(None, max_length=16)
    grade_id: Id | None = Field(None, description="更正等级")


class MediaPath(BaseModel):
    key: str = Field(max_length=512)


def init_app(app: Flask) -> None:
    """Cap request bodies (MAX_UPLOAD_BYTES) and answer an oversized upload 413 in the shared shape."""
    limit = settings_of(app).max_upload_bytes
    app.config["MAX_CONTENT_LENGTH"] = limit

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc: RequestEntityTooLarge) -> Any:
        mb = limit // (1024 * 1024)
        body = {"error": {"code": "UPLOAD_TOO_LARGE", "message": f"上传内容太大（上限 {mb} MB），请压缩照片或缩短录音",
                          "details": {"max_bytes": limit}}}
        return jsonify(body), 413


def _media_url(key: str) -> str:
    return f"/api/v1/media/{key}"


def draft_out(view: DraftView) -> dict[str, Any]:
    kg = view.base_quantity if view.base_unit in ("公斤", "千克", "kg") else None
    return DraftOut(
        draft_id=view.draft_id, status=view.status, site_id=view.site_id, item_id=view.item_id,
        item_name=view.item_name, party_id=view.party_id, party_name=view.party_name, grade_id=view.grade_id,
        grade_name=view.grade_name, unit_price=view.unit_price, transcript=view.transcript,
        weight=WeightOut(value=view.quantity, unit=view.unit, base_quantity=view.base_quantity,
                         base_unit=view.base_unit, kilograms=kg, confidence=view.confidence,
                         source=view.weight_source),
        amount=view.amount, prepayment=view.prepayment,
        photos=[PhotoOut(thumb_url=_media_url(t), image_url=_media_url(i)) for i, t in view.photo_keys],
        warnings=[WarningOut(**w) for w in view.warnings], replayed=view.replayed,
        delivery_note=note_out(view.note) if view.note else None,
    ).model_dump(mode="json")


#: Farmers (who hold no role) and staff both enter deliveries, so no single permission gates these
#: routes: the site and party checks live in the operations (authorize_intake, load_draft, photo_visible).
_INTAKE = Anyone("农户与员工都可录入；站点与农户的权限在 authorize_intake 中检查")
_OWN_DRAFT = Anyone("录入的农户本人或该站点有收货权限者；由 load_draft 按草稿检查")


# write=False: a retry is recognised by client_id and the request digest, not by Idempotency-Key.
@endpoint(api.post, "/intake", permission=_INTAKE, response=DraftOut, write=False)
def intake(ctx: Ctx, form: IntakeForm) -> Any:
    """Create a draft delivery from photos, a recording and/or a typed weight, and a grade."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session, actor = ctx.session, ctx.actor
    uploads = [p for p in form.photos if hasattr(p, "read")]
    typed = bool(form.weight and form.weight.strip())
    # flask-openapi3 passes a plain form field named "audio" through as text: that is no recording.
    recording = form.audio if hasattr(form.audio, "read") else None
    if not typed and recording is None:
        raise ValidationError("请说出或输入重量", field="weight")
    # Authorise before a single byte is decoded: decoding is the expensive part an attacker wants.
    authorize_intake(session, actor, form.site_id, form.party)
    photos = read_photos(uploads)
    check_photos(photos)  # headers only: size, format, pixels per photo and per request
    audio = recording.read() if recording is not None else None
    if audio is not None and not audio:
        audio = None
        if not typed:
            raise ValidationError("请说出或输入重量", field="weight")
    fields = form.model_dump(exclude={"photos", "audio"})
    digest = request_digest(fields, photos, audio)
    transcript, confidence = None, None
    warnings: tuple[tuple[str, str], ...] = ()
    if audio is None:
        decoded = decode_photos(photos)
    else:
        grade_words = list(dict.fromkeys(session.scalars(select(Grade.name).where(Grade.org_id == actor.org_id))))
        # Photos (Pillow) and speech (vosk) both release the GIL: side by side they take the longer one's time.
        photo_job = _WORKERS.submit(decode_photos, photos)
        try:
            heard = recognise(app, audio, grade_words, typed=typed)
        finally:
            decoded = photo_job.result()
        warnings = heard.warnings
        if heard.transcript is not None:
            transcript, confidence = heard.transcript.text, heard.transcript.confidence
    session.rollback()  # hold no read transaction while the intake writes
    view = run(app.extensions["liuzhuan"]["session_factory"], create_intake, actor, CreateIntake(
        site_id=form.site_id, grade_id=form.grade_id, item_id=form.item_id, party_id=form.party,
        typed_weight=form.weight if typed else None, typed_unit=form.unit, transcript=transcript,
        speech_confidence=confidence, photos=decoded.evidence, client_id=form.client_id, request_hash=digest,
        channel_warnings=warnings, auto_confirm=form.auto_confirm))
    # Files only after the commit: a refused intake leaves nothing on disk.
    store_photos(app, decoded)
    return draft_out(view)


@endpoint(api.get, "/intake/<uuid:draft_id>", permission=_OWN_DRAFT, response=DraftOut)
def get_draft(ctx: Ctx, path: DraftPath) -> Any:
    """Return a draft (and its delivery note once confirmed)."""
    return draft_out(draft_view(ctx.session, load_draft(ctx.session, ctx.actor, path.draft_id)))


# write=False: confirming twice returns the same note (the draft's own key), no Idempotency-Key needed.
@endpoint(api.post, "/intake/<uuid:draft_id>/confirm", permission=_OWN_DRAFT, response=NoteOut, write=False)
def confirm(ctx: Ctx, path: DraftPath, body: ConfirmIn) -> Any:
    """Confirm a draft (with corrections): posts the delivery note; repeating returns the same note."""
    ctx.session.rollback()  # hold no read transaction while the confirmation writes
    note = run(current_app.extensions["liuzhuan"]["session_factory"], confirm_intake, ctx.actor,
               ConfirmIntake(path.draft_id, body.weight, body.unit, body.grade_id))
    return note_out(note).model_dump(mode="json")


@endpoint(api.get, "/media/<path:key>",
          permission=Anyone("农户只看自己交货的照片，员工看本单位的；由 photo_visible 判断"),
          response={"description": "照片（JPEG，已去除 EXIF/GPS）", "content": {"image/jpeg": {}}})
def media(ctx: Ctx, path: MediaPath) -> Any:
    """Serve a stored photo (stripped of EXIF and GPS) to members who may see it."""
    data = read_photo(ctx.session, ctx.actor, storage(current_app), path.key)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
