"""The delivery note a farmer keeps: JSON for the app, a QR code, and a signed read-only page (GET /d/<token>)."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import qrcode
from flask import Blueprint, Response, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, Field, PlainSerializer

from app.web import db
from models.errors import NotFound
from models.operations.intake import DeliveryNote, delivery_note
from models.timeutil import SHANGHAI

_SALT = "liuzhuan.delivery-note.v1"
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


def note_token(org_id: int, document_id: int) -> str:
    """A signed, unguessable token naming one delivery note (read only; no login needed)."""
    return _serializer().dumps([org_id, document_id])


def read_note_token(token: str) -> tuple[int, int]:
    try:
        org_id, document_id = _serializer().loads(token)
        return int(org_id), int(document_id)
    except (BadSignature, ValueError, TypeError) as exc:
        raise NotFound("交货单链接无效", entity="DeliveryNote") from exc


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
    url = request.host_url.rstrip("/") + f"/d/{note_token(note.org_id, note.document_id)}"
    return NoteOut(**{k: getattr(note, k) for k in NoteOut.model_fields if hasattr(note, k)},
                   note_url=url, qr_png_base64=base64.b64encode(qr_png(url)).decode())


@pages.get("/d/<token>")
def page(token: str) -> Response:
    """The read-only delivery note (HTML, Chinese, for phones)."""
    org_id, document_id = read_note_token(token)
    note = delivery_note(db(), org_id, document_id)
    when = note.business_time.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    html = render_template("delivery_note.html", note=note, when=when, token=token, fmt=_fmt)
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store",
                                                         "X-Robots-Tag": "noindex"})


@pages.get("/d/<token>/qr.png")
def page_qr(token: str) -> Response:
    """The QR code of a delivery-note link."""
    read_note_token(token)
    return Response(qr_png(request.host_url.rstrip("/") + f"/d/{token}"), mimetype="image/png")


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"
