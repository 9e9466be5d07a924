"""The delivery note a farmer keeps: JSON for the app, a QR code, and a signed read-only page (GET /d/<token>)."""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import qrcode
from flask import Blueprint, Response, current_app, render_template, render_template_string, request
from flask_openapi3 import APIBlueprint, Tag
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, Field, PlainSerializer

from app.factory import settings_of
from app.web import db
from miniprogram_api.apiutil import Id
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.errors import NotFound
from models.operations.delivery_notes import (
    NoteLinkExpired,
    NoteLinkRevoked,
    RevokeNoteLinks,
    check_note_link,
    revoke_note_links,
)
from models.operations.intake import DeliveryNote, delivery_note
from models.timeutil import SHANGHAI

_SALT = "liuzhuan.delivery-note.v1"
api = APIBlueprint("delivery_notes", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="交货单")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


@dataclass(frozen=True)
class NoteLink:
    org_id: int
    document_id: int
    issued_at: datetime
    expires_at: datetime

#: Quantities and prices without trailing zeros ("11.75", not "11.750000"); amounts keep their fen.
Plain = Annotated[Decimal, PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str, when_used="json")]
pages = Blueprint("delivery_note", __name__, template_folder="templates")


class NoteOut(BaseModel):
    document_id: int
    number: str = Field(description="交货单号，如 RK-SX-20261123-0007")
    org_name: str
    site_name: str
    party_name: str | None
    item_name: str
    grade: str | None
    quantity: Plain
    unit: str
    base_quantity: Plain
    base_unit: str
    unit_price: Plain
    amount: Decimal
    prepayment: Decimal
    balance_after_qc: Decimal
    business_time: datetime
    status: str
    note_url: str = Field(description="可转发的只读交货单页面（签名链接）")
    qr_png_base64: str = Field(description="打开 note_url 的二维码 PNG（base64）")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def note_token(org_id: int, document_id: int, *, issued_at: float | None = None) -> str:
    """A signed, unguessable token naming one delivery note, issued now and expiring after NOTE_LINK_DAYS."""
    issued = time.time() if issued_at is None else issued_at
    expires = issued + settings_of(current_app).note_link_days * 86400
    # Milliseconds: a link issued right after a revocation must not count as revoked.
    return _serializer().dumps([org_id, document_id, int(issued * 1000), int(expires * 1000)])


def read_note_token(token: str) -> NoteLink:
    """The link a token names; 404 when forged, 410 when it has expired or was issued before the v2 format."""
    try:
        payload = _serializer().loads(token)
    except BadSignature as exc:
        raise NotFound("交货单链接无效", entity="DeliveryNote") from exc
    if not isinstance(payload, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in payload):
        raise NotFound("交货单链接无效", entity="DeliveryNote")
    if len(payload) == 2:  # links from before expiry existed: they had none, so treat them as expired
        raise NoteLinkExpired(document_id=payload[1])
    if len(payload) != 4:
        raise NotFound("交货单链接无效", entity="DeliveryNote")
    org_id, document_id, issued_ms, expires_ms = payload
    return NoteLink(org_id, document_id, datetime.fromtimestamp(issued_ms / 1000, UTC),
                    datetime.fromtimestamp(expires_ms / 1000, UTC))


def note_url(token: str) -> str:
    """The public link of a token: PUBLIC_BASE_URL, never the request's Host header."""
    return f"{settings_of(current_app).public_base_url}/d/{token}"


def qr_png(url: str) -> bytes:
    """A QR code PNG for ``url``."""
    # A fixed mask is valid QR; searching all eight for the "best" one costs ~20 ms of pure Python.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=2, mask_pattern=2)
    code.add_data(url)
    code.make(fit=True)
    img = code.make_image()
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def note_out(note: DeliveryNote) -> NoteOut:
    """The API answer for a delivery note, with its signed link and QR code."""
    url = note_url(note_token(note.org_id, note.document_id))
    return NoteOut(**{k: getattr(note, k) for k in NoteOut.model_fields if hasattr(note, k)},
                   note_url=url, qr_png_base64=base64.b64encode(qr_png(url)).decode())


def _open_link(token: str) -> NoteLink:
    link = read_note_token(token)
    check_note_link(db(), link.org_id, link.document_id, link.issued_at, link.expires_at)
    return link


_GONE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>交货单链接已失效</title></head>
<body><p>{{ message }}</p></body></html>"""


@pages.get("/d/<token>")
def page(token: str) -> Response:
    """The read-only delivery note (HTML, Chinese, for phones); 410 once the link expired or was revoked."""
    try:
        link = _open_link(token)
    except (NoteLinkExpired, NoteLinkRevoked) as exc:
        # A phone's browser gets a page it can show; API clients (and no Accept header) the JSON error.
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html":
            raise
        html = render_template_string(_GONE_PAGE, message=exc.message)
        return Response(html, status=410, mimetype="text/html", headers={"Cache-Control": "no-store"})
    note = delivery_note(db(), link.org_id, link.document_id)
    when = note.business_time.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    html = render_template("delivery_note.html", note=note, when=when, token=token, fmt=_fmt)
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store",
                                                         "X-Robots-Tag": "noindex"})


@pages.get("/d/<token>/qr.png")
def page_qr(token: str) -> Response:
    """The QR code of a delivery-note link."""
    _open_link(token)
    return Response(qr_png(note_url(token)), mimetype="image/png", headers={"Cache-Control": "no-store"})


class RevokePath(BaseModel):
    document_id: Id


class RevokeIn(BaseModel):
    reason: str = Field("", max_length=256, description="撤销原因（记入审计日志）")


class RevokeOut(BaseModel):
    document_id: int
    number: str
    revoked_at: datetime


@endpoint(api.post, "/delivery-notes/<int:document_id>/revoke",
          permission=Anyone("录入人本人（含农户）或该站点有收货权限者；由 revoke_note_links 按单据检查"),
          response=RevokeOut)
def revoke(ctx: Ctx, path: RevokePath, body: RevokeIn) -> dict:
    """Revoke every shared link of a delivery note issued so far (they then answer 410)."""
    done = ctx.call(revoke_note_links, RevokeNoteLinks(path.document_id, body.reason))
    return RevokeOut(document_id=done.document_id, number=done.number,
                     revoked_at=done.revoked_at).model_dump(mode="json")


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"
