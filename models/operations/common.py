"""Helpers shared by operations: opening documents, checking sites, reading the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from models.actor import Actor
from models.base import utcnow
from models.catalog import Item
from models.documents import DOC_PREFIX, TRANSITIONS, DocKind, DocStatus, Document
from models.errors import InvalidState, ValidationError
from models.lookup import get_owned
from models.numbering import allocate
from models.org import Site, SiteKind
from models.timeutil import SHANGHAI

#: Offline entries may carry a past business time; a future one is a clock or typing error.
FUTURE_SLACK = timedelta(minutes=10)

STATUS_LABELS = {
    DocStatus.DRAFT: "草稿", DocStatus.POSTED: "已过账", DocStatus.REVERSED: "已冲销",
    DocStatus.REQUESTED: "待审批", DocStatus.APPROVED: "已批准", DocStatus.IN_TRANSIT: "在途",
    DocStatus.RECEIVED: "已收货", DocStatus.REJECTED: "已驳回", DocStatus.CANCELLED: "已取消",
    DocStatus.CONFIRMED: "已确认", DocStatus.PARTIAL: "部分完成", DocStatus.DONE: "已完成",
}


def business_time_or_now(value: datetime | None) -> datetime:
    """Return the business time of an entry, defaulting to now and refusing the future."""
    now = utcnow()
    if value is None:
        return now
    if value.tzinfo is None:
        raise ValidationError("业务时间缺少时区", field="business_time")
    if value > now + FUTURE_SLACK:
        raise ValidationError("业务时间不能晚于现在", field="business_time")
    return value


def open_document(
    session: Session,
    actor: Actor,
    kind: DocKind,
    status: DocStatus,
    business_time: datetime,
    *,
    site: Site | None = None,
    **fields: Any,
) -> Document:
    """Create a document with its human number (RK-SX-20261123-0007) and flush it."""
    day = business_time.astimezone(SHANGHAI).strftime("%Y%m%d")
    series = f"{DOC_PREFIX[kind]}-{site.code}" if site is not None else DOC_PREFIX[kind]
    number = f"{series}-{day}-{allocate(session, actor.org_id, series, day):04d}"
    doc = Document(
        org_id=actor.org_id, kind=kind, number=number, status=status, business_time=business_time,
        site_id=site.id if site is not None else None, created_by=actor.member_id, lines=[], **fields,
    )  # lines=[]: a new document has none, so appending later loads nothing
    session.add(doc)
    session.flush()
    return doc


def transition(doc: Document, target: DocStatus) -> None:
    """Move a document to ``target`` if its state machine allows it."""
    allowed = TRANSITIONS.get(doc.kind, {}).get(doc.status, set())
    if target not in allowed:
        raise InvalidState(
            f"单据 {doc.number} 当前{STATUS_LABELS[doc.status]}，不能改为{STATUS_LABELS[target]}",
            number=doc.number, status=doc.status.value, target=target.value,
        )
    doc.status = target


def stock_site(session: Session, actor: Actor, site_id: int) -> Site:
    """Return an active, non-transit site of the actor's organisation."""
    site = get_owned(session, Site, site_id, actor.org_id)
    if site.kind == SiteKind.IN_TRANSIT or not site.active:
        raise ValidationError(f"{site.name} 不能直接收发货", site_id=site_id)
    return site


def active_item(session: Session, actor: Actor, item_id: int) -> Item:
    """Return an active item of the actor's organisation."""
    item = get_owned(session, Item, item_id, actor.org_id)
    if not item.active:
        raise ValidationError(f"{item.name} 已停用", item_id=item_id)
    return item


def dec(value: Decimal) -> str:
    """Render a Decimal for event payloads."""
    return format(value.normalize(), "f")
