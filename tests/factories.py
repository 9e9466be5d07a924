"""Small helpers for model tests: receive and ship in one line, read back what was written.

Every helper goes through the real operations (``models.uow.run``), never around them.
Keep this module small and its signatures stable: other test packages import it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models.actor import Actor
from models.demo import DemoOrg
from models.documents import Document
from models.finance import Voucher
from models.infra import OutboxEvent
from models.invariants import check_all
from models.operations import Receipt, ReceiveGoods, ShipGoods, Shipment, receive_goods, ship_goods
from models.stock import Balance, StockMove
from models.uow import run

#: Tables whose row counts tell whether an operation wrote anything.
COUNTED = {"documents": Document, "stock_moves": StockMove, "vouchers": Voucher, "outbox_events": OutboxEvent}


def receive(
    session_factory: sessionmaker[Session],
    demo: DemoOrg,
    quantity: Decimal | int | str,
    *,
    actor: Actor | None = None,
    site: str = "ZC",
    item: str = "茶青",
    unit: str | None = None,
    party: str | None = "王阿姨",
    grade: str | None = "一级",
    expires_on: date | None = None,
    business_time: datetime | None = None,
    **fields: object,
) -> Receipt:
    """Receive ``quantity`` of a demo item at a demo site (default: 茶青 一级 from 王阿姨 at 总仓)."""
    cmd = ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items[item], quantity=Decimal(quantity), unit=unit,
        party_id=demo.parties[party] if party else None, grade_id=demo.grades[grade] if grade else None,
        expires_on=expires_on, business_time=business_time, **fields,  # type: ignore[arg-type]
    )
    return run(session_factory, receive_goods, actor or Actor.system_actor(demo.org_id), cmd)


def ship(
    session_factory: sessionmaker[Session],
    demo: DemoOrg,
    quantity: Decimal | int | str,
    *,
    actor: Actor | None = None,
    site: str = "ZC",
    item: str = "茶青",
    party: str | None = "杭州茶城",
    unit_price: Decimal | int | str | None = 100,
    **fields: object,
) -> Shipment:
    """Ship ``quantity`` of a demo item from a demo site (default: 茶青 from 总仓 to 杭州茶城 at 100)."""
    cmd = ShipGoods(
        site_id=demo.sites[site], item_id=demo.items[item], quantity=Decimal(quantity),
        party_id=demo.parties[party] if party else None,
        unit_price=Decimal(unit_price) if unit_price is not None else None, **fields,  # type: ignore[arg-type]
    )
    return run(session_factory, ship_goods, actor or Actor.system_actor(demo.org_id), cmd)


def row_counts(session_factory: sessionmaker[Session], org_id: int) -> dict[str, int]:
    """Return how many documents, stock moves, vouchers and outbox events the org has."""
    with session_factory() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model).where(model.org_id == org_id)) or 0
            for name, model in COUNTED.items()
        }


def voucher_lines(session_factory: sessionmaker[Session], document_id: int) -> list[tuple[str, Decimal, Decimal]]:
    """Return (account, debit, credit) of every line of a document's vouchers, in posting order."""
    with session_factory() as session:
        vouchers = session.scalars(select(Voucher).where(Voucher.document_id == document_id).order_by(Voucher.id))
        return [(line.account_code, line.debit, line.credit) for v in vouchers for line in v.lines]


def lot_balance(session_factory: sessionmaker[Session], lot_id: int, site_id: int) -> Balance:
    """Return the balance row of one lot at one site (detached, for reading)."""
    with session_factory() as session:
        return session.scalars(select(Balance).where(Balance.lot_id == lot_id, Balance.site_id == site_id)).one()


def assert_books_ok(session_factory: sessionmaker[Session], org_id: int) -> None:
    """Fail unless ledger, balances, reservations and vouchers of the org are consistent."""
    with session_factory() as session:
        report = check_all(session, org_id)
    assert report.ok, report.problems()


def drain(session_factory: sessionmaker[Session]) -> None:
    """Run the outbox relay, with every registered handler, until nothing is pending."""
    from workflows.relay import relay_pending  # tests of models/ alone need no workflows import

    while relay_pending(session_factory, limit=10_000):
        pass
