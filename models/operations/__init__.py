"""Operations: the only code that changes business state.

Each takes ``(session, actor, command)``, validates, locks, writes ledger moves, voucher and
outbox event in the caller's transaction, and returns a result object. Each accepts
``idempotency_key=``. The caller commits (see ``models.uow.run``).
"""

from models.operations.batch import BatchOp, BatchOutcome, apply_batch
from models.operations.counting import CountResult, CountStock, count_stock
from models.operations.mapping import ChangeMappingRule, MappingChange, RuleLine, change_mapping_rule
from models.operations.masterdata import (
    AssignRole,
    CreateItem,
    CreateMember,
    CreateOrg,
    CreateParty,
    CreateSite,
    GradeSpec,
    SetGradePrice,
    assign_role,
    create_item,
    create_member,
    create_org,
    create_party,
    create_site,
    set_grade_price,
)
from models.operations.orders import CancelOrder, CreateOrder, Order, OrderLineIn, cancel_order, create_order
from models.operations.quality import (
    FreezeResult,
    FreezeStock,
    QcResult,
    RecordQc,
    UnfreezeStock,
    freeze_stock,
    record_qc,
    unfreeze_stock,
)
from models.operations.receiving import Receipt, ReceiveGoods, receive_goods
from models.operations.reversal import Reversal, ReverseDocument, reverse_document
from models.operations.settlement import SettleFarmer, SettlementItem, SettlementResult, settle_farmer
from models.operations.shipping import PickedLot, ShipGoods, Shipment, ship_goods
from models.operations.transfers import (
    DecideTransfer,
    RequestTransfer,
    Transfer,
    TransferLineIn,
    TransferRef,
    cancel_transfer,
    decide_transfer,
    dispatch_transfer,
    receive_transfer,
    request_transfer,
)

__all__ = [
    "AssignRole", "BatchOp", "BatchOutcome", "CancelOrder", "ChangeMappingRule", "CountResult", "CountStock",
    "CreateItem", "CreateMember", "CreateOrder", "CreateOrg", "CreateParty", "CreateSite", "DecideTransfer",
    "FreezeResult", "FreezeStock", "GradeSpec", "MappingChange", "Order", "OrderLineIn", "PickedLot", "QcResult",
    "Receipt", "ReceiveGoods", "RecordQc", "RequestTransfer", "Reversal", "ReverseDocument", "RuleLine",
    "SetGradePrice", "SettleFarmer", "SettlementItem", "SettlementResult", "ShipGoods", "Shipment", "Transfer",
    "TransferLineIn", "TransferRef", "UnfreezeStock", "apply_batch", "assign_role", "cancel_order", "cancel_transfer",
    "change_mapping_rule", "count_stock", "create_item", "create_member", "create_order", "create_org", "create_party",
    "create_site", "decide_transfer", "dispatch_transfer", "freeze_stock", "receive_goods", "receive_transfer",
    "record_qc", "request_transfer", "reverse_document", "set_grade_price", "settle_farmer", "ship_goods",
    "unfreeze_stock",
]
