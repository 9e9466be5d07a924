"""Typed domain errors: a stable code for programs, a Chinese message for people."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error an operation raises on purpose.

    ``code`` is stable (clients switch on it); ``message`` is shown to the user as is.
    """

    code: str = "DOMAIN_ERROR"
    http_status: int = 400
    default_message: str = "操作失败"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationError(DomainError):
    code = "VALIDATION_ERROR"
    http_status = 422
    default_message = "输入有误"


class InvalidQuantity(ValidationError):
    code = "INVALID_QUANTITY"
    default_message = "数量无法识别"


class UnknownUnit(ValidationError):
    code = "UNKNOWN_UNIT"
    default_message = "不认识的单位"


class NotFound(DomainError):
    code = "NOT_FOUND"
    http_status = 404
    default_message = "找不到对象"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"
    http_status = 403
    default_message = "没有权限"


class InsufficientStock(DomainError):
    code = "INSUFFICIENT_STOCK"
    http_status = 409
    default_message = "库存不足"


class StockFrozen(DomainError):
    code = "STOCK_FROZEN"
    http_status = 409
    default_message = "库存已冻结"


class InvalidState(DomainError):
    code = "INVALID_STATE"
    http_status = 409
    default_message = "单据状态不允许此操作"


class IdempotencyConflict(DomainError):
    code = "IDEMPOTENCY_CONFLICT"
    http_status = 409
    default_message = "同一个请求编号已用于不同的内容"


class QcNotPassed(DomainError):
    code = "QC_NOT_PASSED"
    http_status = 409
    default_message = "质检未通过，不能结算尾款"


class UnbalancedVoucher(DomainError):
    code = "UNBALANCED_VOUCHER"
    http_status = 500
    default_message = "凭证借贷不平"


class MappingMissing(DomainError):
    code = "MAPPING_MISSING"
    http_status = 409
    default_message = "没有匹配的记账规则"


class ApprovalNotOpened(DomainError):
    code = "APPROVAL_NOT_OPENED"
    http_status = 409
    default_message = "该单据没有审批流程，不能直接审批"


class SelfApproval(PermissionDenied):
    code = "SELF_APPROVAL"
    default_message = "不能审批自己提交的单据"


class ReplayedRequest(DomainError):
    code = "REPLAYED_REQUEST"
    http_status = 403
    default_message = "该请求的签名已经用过，拒绝重复提交"
