"""Units of measure and packs in 设置: the org's units (筐 = 20 公斤) and an item's packs (箱 = 20 罐).

Both are catalog rows (``CONFIG_MODELS``): a change renews the org's config version, so the next
posting and the quantity parser (models.units.units_for_item → models.quantity.parse_quantity) read
the new names at once. Every change is audited with before/after, under 修改价格 like item editing.

Changing a pack's factor never rewrites what was posted: a stock move keeps its quantity in the
item's base unit (models.stock.StockMove.quantity; models.quantity resolves every unit to ``base``
and models.units.to_base converts at posting time), and a document line keeps what was typed
(entered_quantity, entered_unit) beside it. Only quantities entered after the change use the new factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.catalog import Dimension, Item, ItemUnit, Unit
from models.documents import DocumentLine
from models.errors import DataConflict, UnitInUse, ValidationError
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.settings_admin import Saved

#: A unit's name is what people type after a number: short, and no numerals inside it.
UNIT_NAME_MAX = 16
#: The largest factor accepted (a unit of a million tonnes is a typo); six decimals, as the column.
FACTOR_MAX = Decimal(10) ** 9
_PLACES = Decimal("0.000001")


def parse_factor(value: Decimal | str, field: str = "factor", label: str = "换算系数") -> Decimal:
    """A factor > 0, at most ``FACTOR_MAX`` with at most six decimals; "abc", "1e400", NaN refused."""
    try:
        factor = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(f"{label}应为数字", field=field) from None
    if not factor.is_finite() or factor <= 0:
        raise ValidationError(f"{label}应为大于 0 的数字", field=field)
    if factor > FACTOR_MAX:
        raise ValidationError(f"{label}过大（最多 {FACTOR_MAX:,}）", field=field)
    if factor != factor.quantize(_PLACES):
        raise ValidationError(f"{label}最多 6 位小数", field=field)
    return factor.normalize()


def unit_name(value: str, field: str = "name") -> str:
    """A unit or pack name people can type after a number: 1–16 characters, no digits, no spaces."""
    name = (value or "").strip()
    if not name:
        raise ValidationError("单位名称不能为空", field=field)
    if len(name) > UNIT_NAME_MAX:
        raise ValidationError(f"单位名称最多 {UNIT_NAME_MAX} 个字", field=field)
    # The parser reads numerals and 半 as the number: "2号箱" or "半筐" could never be typed back.
    if any(ch.isspace() or ch.isnumeric() or ch in "两半点" or ord(ch) < 32 for ch in name):
        raise ValidationError("单位名称不能含数字、“两”“半”“点”或空格", field=field)
    return name


# --- the org's units ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AddUnit:
    name: str
    dimension: Dimension
    #: Mass: kilograms per unit (筐 = 20). Count: ignored, always 1.
    factor: Decimal | str = Decimal(1)
    reason: str = ""


@idempotent("unit.create")
def add_unit(session: Session, actor: Actor, cmd: AddUnit) -> int:
    """Add a unit to the organisation; a mass unit is then accepted for every mass item."""
    actor.require(Permission.PRICES)
    name = unit_name(cmd.name)
    factor = parse_factor(cmd.factor) if cmd.dimension == Dimension.MASS else Decimal(1)
    if session.scalar(select(Unit.id).where(Unit.org_id == actor.org_id, Unit.name == name)) is not None:
        raise DataConflict(f"已有单位“{name}”", field="name")
    if cmd.dimension == Dimension.MASS:  # a pack of that name would silently win over it for that item
        packed = session.scalar(select(Item.name).join(ItemUnit, ItemUnit.item_id == Item.id).where(
            ItemUnit.org_id == actor.org_id, ItemUnit.name == name, Item.dimension == Dimension.MASS).limit(1))
        if packed is not None:
            raise DataConflict(f"{packed} 已有包装“{name}”，重量单位请另取名称", field="name")
    unit = Unit(org_id=actor.org_id, name=name, dimension=cmd.dimension, factor=factor)
    session.add(unit)
    session.flush()
    record_audit(session, actor, "unit.created", "unit", unit.id, before=None,
                 after={"name": name, "dimension": cmd.dimension.value, "factor": f"{factor:f}"}, reason=cmd.reason)
    return unit.id


@dataclass(frozen=True)
class RenameUnit:
    unit_id: int
    name: str
    reason: str = ""


def unit_in_use(session: Session, org_id: int, name: str) -> bool:
    """Whether a document line was entered in ``name``, or an item counts in it, or packs carry it."""
    return bool(session.scalar(select(or_(
        exists().where(DocumentLine.org_id == org_id, DocumentLine.entered_unit == name),
        exists().where(Item.org_id == org_id, Item.base_unit == name),
        exists().where(ItemUnit.org_id == org_id, ItemUnit.name == name)))))


@idempotent("unit.rename")
def rename_unit(session: Session, actor: Actor, cmd: RenameUnit) -> Saved:
    """Rename a unit nobody has used yet (a typo just added); a used one keeps its name for good."""
    actor.require(Permission.PRICES)
    unit = get_owned(session, Unit, cmd.unit_id, actor.org_id, lock=True)
    name = unit_name(cmd.name)
    if name == unit.name:
        return Saved(unit.id, ())
    if unit_in_use(session, actor.org_id, unit.name):
        raise UnitInUse(f"单位“{unit.name}”已经用在单据或商品上：改名后，历史单据上记的“{unit.name}”就对不上了。"
                        f"如需新名称，请另外新增一个单位", unit=unit.name)
    if session.scalar(select(Unit.id).where(Unit.org_id == actor.org_id, Unit.name == name)) is not None:
        raise DataConflict(f"已有单位“{name}”", field="name")
    record_audit(session, actor, "unit.renamed", "unit", unit.id, before={"name": unit.name}, after={"name": name},
                 reason=cmd.reason)
    unit.name = name
    return Saved(unit.id, ("name",))


# --- an item's packs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SetPack:
    """Add a pack to an item (``pack_id`` None) or change one: its name and how many base units it holds."""

    item_id: int
    name: str
    factor: Decimal | str
    pack_id: int | None = None
    reason: str = ""


def _check_pack_name(session: Session, item: Item, name: str, pack_id: int | None) -> None:
    if name == item.base_unit:
        raise ValidationError(f"包装不能与基本单位“{item.base_unit}”同名", field="name")
    if item.dimension == Dimension.MASS and session.scalar(select(Unit.id).where(
            Unit.org_id == item.org_id, Unit.dimension == Dimension.MASS, Unit.name == name)) is not None:
        raise ValidationError(f"“{name}”已是重量单位，包装请另取名称", field="name")
    if any(p.name == name and p.id != pack_id for p in item.packs):
        raise DataConflict(f"{item.name} 已有包装“{name}”", field="name")


@idempotent("pack.set")
def set_pack(session: Session, actor: Actor, cmd: SetPack) -> Saved:
    """Add or change an item's pack; audited. Posted moves stay as they are (kept in base units)."""
    actor.require(Permission.PRICES)
    item = get_owned(session, Item, cmd.item_id, actor.org_id, lock=True)
    name = unit_name(cmd.name)
    factor = parse_factor(cmd.factor)
    if cmd.pack_id is None:
        _check_pack_name(session, item, name, None)
        pack = ItemUnit(org_id=actor.org_id, item_id=item.id, name=name, factor=factor)
        session.add(pack)
        session.flush()
        record_audit(session, actor, "pack.created", "item", item.id, before=None,
                     after={"pack": name, "factor": f"{factor:f}"}, reason=cmd.reason)
        return Saved(pack.id, ("factor", "name"))
    pack = get_owned(session, ItemUnit, cmd.pack_id, actor.org_id, lock=True)
    if pack.item_id != item.id:
        raise ValidationError("这个包装不属于该商品", field="pack_id")
    _check_pack_name(session, item, name, pack.id)
    before = {"pack": pack.name, "factor": f"{pack.factor.normalize():f}"}
    after = {"pack": name, "factor": f"{factor:f}"}
    if before == after:
        return Saved(pack.id, ())
    changed = tuple(sorted(k for k in ("name", "factor")
                           if (k == "name" and pack.name != name) or (k == "factor" and pack.factor != factor)))
    pack.name, pack.factor = name, factor
    record_audit(session, actor, "pack.updated", "item", item.id, before=before, after=after, reason=cmd.reason)
    return Saved(pack.id, changed)


@dataclass(frozen=True)
class RemovePack:
    pack_id: int
    reason: str = ""
    #: When given (a page of that item), the pack must be one of its packs.
    item_id: int | None = None


@idempotent("pack.remove")
def remove_pack(session: Session, actor: Actor, cmd: RemovePack) -> Saved:
    """Remove a pack: new entries can no longer say it; posted lines keep what they said."""
    actor.require(Permission.PRICES)
    pack = get_owned(session, ItemUnit, cmd.pack_id, actor.org_id, lock=True)
    if cmd.item_id is not None and pack.item_id != cmd.item_id:
        raise ValidationError("这个包装不属于该商品", field="pack_id")
    record_audit(session, actor, "pack.removed", "item", pack.item_id,
                 before={"pack": pack.name, "factor": f"{pack.factor.normalize():f}"}, after=None, reason=cmd.reason)
    session.delete(pack)
    session.flush()
    return Saved(pack.id, ("removed",))
