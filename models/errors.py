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


class WebhookUrlForbidden(ValidationError):
    code = "WEBHOOK_URL_FORBIDDEN"
    default_message = "不允许的 Webhook 网址"


class WebhookDuplicate(DomainError):
    code = "WEBHOOK_DUPLICATE"
    http_status = 409
    default_message = "该网址已订阅这些事件"


class ReplayedRequest(DomainError):
    code = "REPLAYED_REQUEST"
    http_status = 403
    default_message = "该请求的签名已经用过，拒绝重复提交"


class NodeDuplicate(DomainError):
    code = "NODE_DUPLICATE"
    http_status = 409
    default_message = "该节点编号已存在"


class BodyTooLarge(DomainError):
    code = "BODY_TOO_LARGE"
    http_status = 413
    default_message = "请求体解压后超过 10 MB"


class NodeUnknown(DomainError):
    """A signed node request names no active node of ours (unknown, or deactivated)."""

    code = "NODE_UNKNOWN"
    http_status = 401
    default_message = "未登记或已停用的站点节点"


class NodeSignatureInvalid(DomainError):
    code = "NODE_SIGNATURE_INVALID"
    http_status = 401
    default_message = "节点请求签名无效"


class NodeClockSkew(DomainError):
    code = "NODE_CLOCK_SKEW"
    http_status = 401
    default_message = "节点时钟与总部相差过大（超过 5 分钟），请校准时间后重试"


class NodeReplayed(DomainError):
    code = "NODE_REPLAYED"
    http_status = 409
    default_message = "该节点请求已经收到过，拒绝重复提交"


class NodeRebuilt(DomainError):
    code = "NODE_REBUILT"
    http_status = 409
    default_message = ("本机数据库与总部记录的不是同一个（可能重装过）：请在总部为该节点「更换密钥」，"
                       "再用新密钥同步，以免本机的新变更被当作已收到而丢失")


class BusinessTimeOutOfWindow(ValidationError):
    code = "BUSINESS_TIME_OUT_OF_WINDOW"
    default_message = "业务时间超出允许的范围"


class PriceOverrideDenied(PermissionDenied):
    code = "PRICE_OVERRIDE_DENIED"
    default_message = "改价须有改价权限并写明原因"


class LotAlreadyChecked(InvalidState):
    code = "LOT_ALREADY_CHECKED"
    default_message = "该批次已质检，新到的货不能并入，请用新的批次号"


class PurchaseOrderNotApproved(DomainError):
    code = "APPROVAL_PENDING"
    http_status = 409
    default_message = "采购单尚未审批通过"


class SupplierRequired(ValidationError):
    """A purchase suggestion with no usual supplier accepted without one being picked."""

    code = "SUPPLIER_REQUIRED"
    default_message = "请选择供应商"


class NotASupplier(ValidationError):
    """The party picked is not an active supplier (or farmer) of the organisation — or is another org's."""

    code = "NOT_A_SUPPLIER"
    default_message = "所选单位不是本组织在用的供应商"


class SalesOrderNotApproved(DomainError):
    code = "APPROVAL_PENDING"
    http_status = 409
    default_message = "销售订单尚未审批通过"


class SecondPersonRequired(PermissionDenied):
    code = "SECOND_PERSON_REQUIRED"
    default_message = "须由录入人以外的另一位收货员确认"


class ReadingImplausible(ValidationError):
    code = "READING_IMPLAUSIBLE"
    default_message = "读数不合理，未记录"


class QuantityAmbiguous(InvalidQuantity):
    """Two different quantities (or a number that may belong to one): the channel asks which one.

    ``details["candidates"]`` is JSON; ``candidates`` holds the parsed quantities for a channel to offer.
    """

    code = "QUANTITY_AMBIGUOUS"
    default_message = "听到了几个不同的数量，请问是哪一个？"

    def __init__(self, message: str | None = None, *, parsed: tuple[Any, ...] = (), **details: Any) -> None:
        super().__init__(message, **details)
        self.candidates = parsed


class QuantityApproximate(InvalidQuantity):
    code = "QUANTITY_APPROXIMATE"
    default_message = "请说一个确切的重量，不要说大概"


class QuantityCorrectionUnclear(InvalidQuantity):
    code = "QUANTITY_CORRECTION_UNCLEAR"
    default_message = "改正之后没有听到新的数量，请再说一遍"


class QuantityUnitMissing(InvalidQuantity):
    code = "QUANTITY_UNIT_MISSING"
    default_message = "请说明单位"


class QuantityNumeralUnknown(InvalidQuantity):
    code = "QUANTITY_NUMERAL_UNKNOWN"
    default_message = "听不懂这个数"


class QuantityIsMoney(InvalidQuantity):
    code = "QUANTITY_IS_MONEY"
    default_message = "这是金额，不是重量"


class DataConflict(DomainError):
    """A write that breaks a uniqueness or reference rule and that no retry can cure."""

    code = "CONFLICT"
    http_status = 409
    default_message = "数据冲突：相同的记录已存在"


class PeriodClosed(DataConflict):
    """A voucher dated in a closed accounting period (结账后): refused, nothing written."""

    code = "PERIOD_CLOSED"
    default_message = "该期间已结账，不能再记入；请按本期日期做更正"


class PeriodNotReady(InvalidState):
    """结账 refused: the period's checks failed (``details["problems"]`` lists them)."""

    code = "PERIOD_CHECKS_FAILED"
    default_message = "结账检查未通过"


class PeriodNodeBehind(InvalidState):
    """结账 refused: an active edge node may still hold postings for the period it has not sent
    (``details["nodes"]`` names them with their backlog and last contact)."""

    code = "PERIOD_NODE_BEHIND"
    default_message = "有站点节点的数据尚未同步到总部，暂不能结账"


class UnitInUse(DataConflict):
    """Renaming a unit that documents or items already name: their quantities would lose their unit."""

    code = "UNIT_IN_USE"
    default_message = "这个单位已经用过，不能改名"


class RouteInactive(InvalidState):
    """A transfer along a route (调拨路线) that was deactivated: refused; ones in transit still arrive."""

    code = "ROUTE_INACTIVE"
    default_message = "这条调拨路线已停用"


class NodeOfflineNotAllowed(DomainError):
    """At an edge node out of touch with headquarters: the site's policy forbids this kind offline."""

    code = "NODE_OFFLINE_NOT_ALLOWED"
    http_status = 409
    default_message = "本节点未与总部同步，该地点不允许离线办理此业务"


class NodeOfflineTooLong(DomainError):
    """At an edge node: out of touch longer than the site allows for operations that carry money."""

    code = "NODE_OFFLINE_TOO_LONG"
    http_status = 409
    default_message = "本节点与总部失联过久，暂停涉及金额的业务"


class NodeOfflineCreditExceeded(DomainError):
    """At an edge node: the site's daily offline shipment credit would be exceeded."""

    code = "NODE_OFFLINE_CREDIT_EXCEEDED"
    http_status = 409
    default_message = "超出离线出库额度"
