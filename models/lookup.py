"""Load rows by id within one organisation: another org's id is simply not found."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from models.errors import NotFound

T = TypeVar("T")

#: The largest id a BIGINT column holds (ids are positive).
_MAX_ID = 2**63 - 1

_LABELS = {
    "Item": "商品", "Site": "地点", "Party": "往来单位", "Member": "成员", "Lot": "批次",
    "Document": "单据", "Grade": "等级", "Freeze": "冻结记录", "MappingRule": "记账规则",
    "FarmerSettlement": "结算记录", "Voucher": "凭证", "ApprovalRequest": "审批", "Todo": "待办",
    "Rule": "规则", "Device": "设备", "WebhookSubscription": "Webhook 订阅",
    "ReplenishmentSuggestion": "补货建议", "ForecastRun": "预测批次", "ForecastOverride": "预测调整",
    "Promotion": "促销", "DemandImport": "需求导入", "Unit": "计量单位", "ItemUnit": "包装",
}


def get_owned(session: Session, model: type[T], obj_id: Any, org_id: int, *, lock: bool = False) -> T:
    """Return the row with ``obj_id`` if it belongs to ``org_id``, else raise NotFound."""
    if isinstance(obj_id, int) and not 0 < obj_id <= _MAX_ID:  # no such row; the driver would overflow
        raise not_found(model.__name__, obj_id)
    obj = session.get(model, obj_id, with_for_update=lock) if obj_id is not None else None
    if obj is None or getattr(obj, "org_id", None) != org_id:
        raise not_found(model.__name__, obj_id)
    return obj


def not_found(entity: str, obj_id: Any) -> NotFound:
    """The NotFound for a missing (or another org's) ``entity`` row: one wording for every lookup."""
    label = _LABELS.get(entity, entity)
    return NotFound(f"找不到{label}（编号 {obj_id}）", entity=entity, id=obj_id)
