"""The document list (单据列表): every document of an organisation the actor may see, filtered, newest first.

One query behind the console's 单据 page, its .xlsx export and the API's ``GET /documents``. A page is
one statement: the documents joined to their sites' and party's names, filtered in SQL and cut by
keyset (``id`` below the last one shown), so page 2,000 costs what page 1 costs. Writes nothing.

Who sees what: finance (查看财务) and members who may see stock at every site see the whole
organisation; a member who may see stock at some sites sees the documents from or to those sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session, aliased, raiseload

from models.actor import Actor, Permission
from models.documents import DOC_KIND_LABELS, DocKind, DocStatus, Document
from models.errors import PermissionDenied, ValidationError
from models.operations.common import STATUS_LABELS
from models.org import Party, Site
from models.timeutil import SHANGHAI

PAGE_SIZE = 50
#: One export is a file a person opens: bounded (narrow the filter for more).
MAX_EXPORT_ROWS = 20_000
MAX_NUMBER_QUERY = 48
#: What a number begins with: its kind's two letters and a dash (RK-, DB-ZC-20261205…).
_PREFIX = re.compile(r"^[A-Z]{2}-")


@dataclass(frozen=True)
class DocumentFilter:
    kind: DocKind | None = None
    status: DocStatus | None = None
    site_id: int | None = None
    party_id: int | None = None
    #: Business dates in the books' zone (Asia/Shanghai), both included.
    date_from: date | None = None
    date_to: date | None = None
    #: Part of the human number (RK-SX-20261123-0007), case-insensitive.
    number: str = ""


@dataclass(frozen=True)
class DocumentRow:
    id: int
    number: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    business_time: datetime
    site_name: str | None
    to_site_name: str | None
    party_name: str | None
    total_amount: Decimal
    urgent: bool
    reverses_document_id: int | None


@dataclass(frozen=True)
class DocumentPage:
    rows: list[DocumentRow]
    #: Pass as ``after`` for the next page; None on the last page.
    next_after: int | None


def visibility(actor: Actor) -> ColumnElement[bool] | None:
    """The condition on ``Document`` of what the actor may see (None: the whole organisation).

    PermissionDenied for a member who may see neither stock nor the books (a farmer: their own
    deliveries are ``models.queries.my_documents``)."""
    if actor.can(Permission.VIEW_FINANCE):
        return None
    sites = actor.site_ids(Permission.VIEW_STOCK)
    if sites is None:
        return None
    if not sites:
        raise PermissionDenied("没有权限：查看单据（需查看库存或查看财务）")
    return or_(Document.site_id.in_(sites), Document.to_site_id.in_(sites))


def may_see(actor: Actor, doc: Document) -> bool:
    """Whether the actor may open this document of their organisation (the same rule as the list)."""
    if doc.org_id != actor.org_id:
        return False
    if actor.can(Permission.VIEW_FINANCE):
        return True
    sites = actor.site_ids(Permission.VIEW_STOCK)
    if sites is None:
        return True
    return bool(sites) and (doc.site_id in sites or doc.to_site_id in sites)


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI)


def check_filter(flt: DocumentFilter) -> None:
    """Refuse a filter that cannot mean anything (an inverted range, a number too long)."""
    if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
        raise ValidationError("开始日期不能晚于结束日期", field="date_from")
    if len(flt.number) > MAX_NUMBER_QUERY:
        raise ValidationError("单号过长", field="number")


def _statement(actor: Actor, flt: DocumentFilter) -> Select[Document, str | None, str | None, str | None]:
    check_filter(flt)
    source, dest = aliased(Site), aliased(Site)
    conditions: list[ColumnElement[bool]] = [Document.org_id == actor.org_id]
    scope = visibility(actor)
    if scope is not None:
        conditions.append(scope)
    if flt.kind is not None:
        conditions.append(Document.kind == flt.kind)
    if flt.status is not None:
        conditions.append(Document.status == flt.status)
    if flt.site_id is not None:
        conditions.append(or_(Document.site_id == flt.site_id, Document.to_site_id == flt.site_id))
    if flt.party_id is not None:
        conditions.append(Document.party_id == flt.party_id)
    if flt.date_from is not None:
        conditions.append(Document.business_time >= _local_start(flt.date_from))
    if flt.date_to is not None:
        conditions.append(Document.business_time < _local_start(flt.date_to + timedelta(days=1)))
    needle = flt.number.strip().upper()
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if _PREFIX.match(needle):
        # A number's beginning (DB-ZC-2026…): a range on the (org, number) index instead of a scan
        # (code-point order: SQLite's BINARY, PostgreSQL's C / C.UTF-8 as our databases are created);
        # the LIKE keeps the answer exact whatever the collation.
        conditions += [Document.number >= needle, Document.number < needle + "\U0010ffff",
                       Document.number.like(f"{escaped}%", escape="\\")]
    elif needle:
        conditions.append(Document.number.like(f"%{escaped}%", escape="\\"))
    return (select(Document, source.name, dest.name, Party.name)
            .outerjoin(source, source.id == Document.site_id)
            .outerjoin(dest, dest.id == Document.to_site_id)
            .outerjoin(Party, and_(Party.id == Document.party_id, Party.org_id == Document.org_id))
            .where(*conditions))


def _row(row: Any) -> DocumentRow:
    doc, site, to_site, party = row
    return DocumentRow(
        id=doc.id, number=doc.number, kind=doc.kind.value, kind_label=DOC_KIND_LABELS[doc.kind],
        status=doc.status.value, status_label=STATUS_LABELS[doc.status], business_time=doc.business_time,
        site_name=site, to_site_name=to_site, party_name=party, total_amount=doc.total_amount, urgent=doc.urgent,
        reverses_document_id=doc.reverses_document_id)


def document_list(session: Session, actor: Actor, flt: DocumentFilter, *, after: int | None = None,
                  limit: int = PAGE_SIZE) -> DocumentPage:
    """One page of the documents the actor may see that match the filter, newest (highest id) first."""
    stmt = _statement(actor, flt)
    if after is not None:
        stmt = stmt.where(Document.id < after)
    # raiseload: the list shows no lines (the relationship would select them all in).
    rows = session.execute(stmt.options(raiseload(Document.lines)).order_by(Document.id.desc()).limit(limit + 1)).all()
    page = [_row(row) for row in rows[:limit]]
    return DocumentPage(page, page[-1].id if len(rows) > limit and page else None)


def document_export(session: Session, actor: Actor, flt: DocumentFilter) -> list[DocumentRow]:
    """Every document matching the filter (for the .xlsx export), bounded by ``MAX_EXPORT_ROWS``."""
    rows = session.execute(_statement(actor, flt).options(raiseload(Document.lines))
                           .order_by(Document.id.desc()).limit(MAX_EXPORT_ROWS + 1)).all()
    if len(rows) > MAX_EXPORT_ROWS:
        raise ValidationError(f"符合条件的单据超过 {MAX_EXPORT_ROWS} 张，请缩小筛选范围", field="date_from")
    return [_row(row) for row in rows]

