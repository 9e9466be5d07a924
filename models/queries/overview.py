"""The read-only overview of one organisation's books (the operators' page at ``/``).

Stock per site and item (available as ``queries.stock_availability`` counts it: freezes and QC
held back), the latest documents and farmer settlements, and the invariant checks. Requires
VIEW_STOCK and VIEW_FINANCE (the web page, which has no signed-in member and is off in
production, passes the organisation's system actor). Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.documents import Document
from models.finance import FarmerSettlement
from models.invariants import CheckReport, check_all
from models.operations.common import STATUS_LABELS
from models.org import Org, Party
from models.queries.stock_availability import Availability, stock_availability
from models.stock import Balance


@dataclass(frozen=True)
class LotRow:
    lot_code: str
    on_hand: Decimal
    expires_on: date | None
    frozen: bool


@dataclass(frozen=True)
class StockRow:
    site: str
    item: str
    unit: str
    level: Availability
    value: Decimal
    lots: tuple[LotRow, ...]


@dataclass(frozen=True)
class DocumentRow:
    number: str
    kind: str
    status_label: str
    party: str
    total_amount: Decimal


@dataclass(frozen=True)
class SettlementRow:
    party: str
    total: Decimal
    prepayment: Decimal
    balance: Decimal
    status: str


@dataclass(frozen=True)
class Overview:
    org_name: str
    org_code: str
    stock: list[StockRow]
    documents: list[DocumentRow]
    settlements: list[SettlementRow]
    checks: CheckReport


def org_overview(session: Session, actor: Actor, *, recent: int = 20) -> Overview:
    """The actor's organisation at a glance: every (site, item) pair, the last ``recent`` documents and settlements."""
    actor.require(Permission.VIEW_STOCK)
    actor.require(Permission.VIEW_FINANCE)
    org = session.get_one(Org, actor.org_id)
    items = list(session.scalars(select(Item).where(Item.org_id == org.id).order_by(Item.code)))
    levels = stock_availability(session, actor, item_ids=[i.id for i in items], include_empty=True)
    values = {(site, item): Decimal(v) for site, item, v in session.execute(
        select(Balance.site_id, Balance.item_id, func.coalesce(func.sum(Balance.value), 0))
        .where(Balance.org_id == org.id).group_by(Balance.site_id, Balance.item_id))}
    order = {i.id: n for n, i in enumerate(items)}
    stock = [StockRow(a.site_name, a.item_name, a.base_unit, a, values.get((a.site_id, a.item_id), Decimal(0)),
                      tuple(LotRow(lot.lot_code, lot.on_hand, lot.expires_on, lot.held)
                            for lot in a.lots if lot.on_hand != 0))
             for a in sorted(levels, key=lambda a: (a.site_id, order[a.item_id]))]
    parties = {p.id: p.name for p in session.scalars(select(Party).where(Party.org_id == org.id))}
    docs = session.scalars(select(Document).where(Document.org_id == org.id).order_by(Document.id.desc()).limit(recent))
    owed = session.scalars(select(FarmerSettlement).where(FarmerSettlement.org_id == org.id)
                           .order_by(FarmerSettlement.id.desc()).limit(recent))
    return Overview(
        org_name=org.name, org_code=org.code, stock=stock,
        documents=[DocumentRow(d.number, d.kind.value, STATUS_LABELS[d.status], parties.get(d.party_id or 0, ""),
                               d.total_amount) for d in docs],
        settlements=[SettlementRow(parties.get(s.party_id, ""), s.total, s.prepayment, s.balance, s.status.value)
                     for s in owed],
        checks=check_all(session, org.id))
