"""Quality checks on lots and freezes: a failed check freezes the lot everywhere.

Each QC result, freeze and lifted freeze leaves an audit row (who, when, the note or reason): the lot's
trace (``queries.lot_trace``) shows them, and a lifted freeze's reason is kept nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.catalog import Item
from models.errors import InvalidState, PermissionDenied, ValidationError
from models.finance import FarmerSettlement, SettlementStatus
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.offline_guard import check_offline
from models.org import OfflineKind, Site
from models.outbox import emit
from models.stock import Balance, Freeze, FreezeDirection, Lot, QcStatus, StockMove

QC_FREEZE_PREFIX = "质检不合格"
#: Longest note or reason a person may write: it is stored in a 256-character column with the prefix.
MAX_REASON = 200


def _check_length(text: str, field: str) -> None:
    if len(text) > MAX_REASON:
        raise ValidationError(f"说明最多 {MAX_REASON} 个字", field=field)


@dataclass(frozen=True)
class RecordQc:
    lot_id: int
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class QcResult:
    lot_id: int
    lot_code: str
    qc_status: str
    freeze_id: int | None
    settlements_released: int


def _lot_sites(session: Session, lot: Lot) -> set[int]:
    """Where the lot is: the sites holding some of it, or (used up) every site it ever moved through."""
    holding = set(session.scalars(select(Balance.site_id).where(
        Balance.item_id == lot.item_id, Balance.lot_id == lot.id, Balance.on_hand != 0)))
    return holding or set(session.scalars(select(StockMove.site_id).where(StockMove.lot_id == lot.id).distinct()))


def _require_qc_at_lot_sites(session: Session, actor: Actor, lot: Lot) -> None:
    """A QC result (a fail freezes the lot everywhere, a pass releases farmers' money) is recorded only by
    someone with QC at every site holding the lot: a site-bound clerk never judges another site's stock."""
    allowed = actor.site_ids(Permission.QC)
    if allowed is None:
        return
    outside = sorted(_lot_sites(session, lot) - allowed)
    if outside:
        raise PermissionDenied("没有权限：质检其他地点的批次", permission=Permission.QC.value, site_id=outside[0])


@idempotent("qc")
def record_qc(session: Session, actor: Actor, cmd: RecordQc) -> QcResult:
    """Record a QC result: a fail freezes the lot and withholds farmers' balances; a pass releases them."""
    actor.require(Permission.QC)
    lot = get_owned(session, Lot, cmd.lot_id, actor.org_id, lock=True)
    _require_qc_at_lot_sites(session, actor, lot)
    if not cmd.passed and not cmd.note.strip():
        raise ValidationError("不合格须写明原因", field="note")
    _check_length(cmd.note, "note")
    before = lot.qc_status.value
    freeze_id = None
    settlements = list(session.scalars(
        select(FarmerSettlement).where(FarmerSettlement.lot_id == lot.id).with_for_update()
    ))
    if cmd.passed:
        lot.qc_status = QcStatus.PASSED
        for freeze in session.scalars(select(Freeze).where(
            Freeze.lot_id == lot.id, Freeze.active.is_(True), Freeze.reason.startswith(QC_FREEZE_PREFIX)
        )):
            freeze.active, freeze.released_at, freeze.released_by = False, utcnow(), actor.member_id
        released = 0
        for s in settlements:
            if s.status in (SettlementStatus.PREPAID, SettlementStatus.WITHHELD):
                s.status = SettlementStatus.BALANCE_DUE
                released += 1
    else:
        lot.qc_status = QcStatus.FAILED
        freeze = Freeze(org_id=actor.org_id, item_id=lot.item_id, site_id=None, lot_id=lot.id,
                        direction=FreezeDirection.BOTH, reason=f"{QC_FREEZE_PREFIX}：{cmd.note}",
                        created_by=actor.member_id)
        session.add(freeze)
        session.flush()
        freeze_id = freeze.id
        released = 0
        for s in settlements:
            if s.status in (SettlementStatus.PREPAID, SettlementStatus.BALANCE_DUE):
                s.status = SettlementStatus.WITHHELD
    record_audit(session, actor, "lot.qc", "lot", lot.id, before={"qc_status": before},
                 after={"qc_status": lot.qc_status.value, "passed": cmd.passed, "freeze_id": freeze_id},
                 reason=cmd.note)
    emit(session, actor.org_id, "lot.qc_passed" if cmd.passed else "lot.qc_failed", {
        "lot_id": lot.id, "lot_code": lot.code, "item_id": lot.item_id, "note": cmd.note,
        "freeze_id": freeze_id, "origin_party_id": lot.origin_party_id,
    })
    return QcResult(lot.id, lot.code, lot.qc_status.value, freeze_id, released)


@dataclass(frozen=True)
class FreezeStock:
    item_id: int
    direction: FreezeDirection
    reason: str
    site_id: int | None = None
    lot_id: int | None = None


@dataclass(frozen=True)
class FreezeResult:
    freeze_id: int
    active: bool


def _require_freeze(actor: Actor, site_id: int | None) -> None:
    """Require FREEZE at the site; a freeze of every site needs it at every site."""
    actor.require(Permission.FREEZE, site_id)
    if site_id is None and actor.site_ids(Permission.FREEZE) is not None:
        raise PermissionDenied("没有权限：冻结或解冻所有地点的库存", permission=Permission.FREEZE.value, site_id=None)


@idempotent("freeze")
def freeze_stock(session: Session, actor: Actor, cmd: FreezeStock) -> FreezeResult:
    """Freeze an item or lot at a site (or everywhere) for inbound, outbound or both."""
    _require_freeze(actor, cmd.site_id)
    check_offline(session, cmd.site_id, OfflineKind.FREEZE)
    item = get_owned(session, Item, cmd.item_id, actor.org_id)
    if cmd.site_id is not None:
        get_owned(session, Site, cmd.site_id, actor.org_id)
    if cmd.lot_id is not None and get_owned(session, Lot, cmd.lot_id, actor.org_id).item_id != item.id:
        raise ValidationError("批次不属于该商品", field="lot_id")
    if not cmd.reason.strip():
        raise ValidationError("冻结须写明原因", field="reason")
    _check_length(cmd.reason, "reason")
    freeze = Freeze(org_id=actor.org_id, item_id=item.id, site_id=cmd.site_id, lot_id=cmd.lot_id,
                    direction=cmd.direction, reason=cmd.reason, created_by=actor.member_id)
    session.add(freeze)
    session.flush()
    record_audit(session, actor, "freeze.create", "freeze", freeze.id, before=None, after={
        "item_id": item.id, "site_id": cmd.site_id, "lot_id": cmd.lot_id, "direction": cmd.direction.value},
        reason=cmd.reason)
    emit(session, actor.org_id, "stock.frozen", {"freeze_id": freeze.id, "item_id": item.id,
                                                 "site_id": cmd.site_id, "lot_id": cmd.lot_id,
                                                 "direction": cmd.direction.value, "reason": cmd.reason})
    return FreezeResult(freeze.id, True)


@dataclass(frozen=True)
class UnfreezeStock:
    freeze_id: int
    reason: str = ""


@idempotent("unfreeze")
def unfreeze_stock(session: Session, actor: Actor, cmd: UnfreezeStock) -> FreezeResult:
    """Lift a freeze (a QC freeze lifts only by a passing QC result)."""
    freeze = get_owned(session, Freeze, cmd.freeze_id, actor.org_id, lock=True)
    _require_freeze(actor, freeze.site_id)
    # The reason is the only record of why stock became sellable again (like a rejection's reason).
    if not cmd.reason.strip():
        raise ValidationError("解冻须写明原因", field="reason")
    _check_length(cmd.reason, "reason")
    if not freeze.active:
        raise InvalidState("该冻结已解除", freeze_id=freeze.id)
    if freeze.reason.startswith(QC_FREEZE_PREFIX):
        raise InvalidState("质检冻结须通过复检解除", freeze_id=freeze.id)
    freeze.active, freeze.released_at, freeze.released_by = False, utcnow(), actor.member_id
    record_audit(session, actor, "freeze.lift", "freeze", freeze.id, before={"active": True},
                 after={"active": False}, reason=cmd.reason)
    emit(session, actor.org_id, "stock.unfrozen", {"freeze_id": freeze.id, "reason": cmd.reason})
    return FreezeResult(freeze.id, False)
