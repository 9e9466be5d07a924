"""The shared inventory and finance model and the operations that change it.

Importing this package registers every table on ``Base.metadata``; it imports no web
framework, no task queue and no channel code.
"""

from models import (  # noqa: F401  (register tables)
    approvals,
    cash,
    catalog,
    charges,
    chat,
    console_login,
    devices,
    documents,
    event_log,
    finance,
    identity,
    infra,
    intake,
    miniprogram,
    nodes,
    org,
    periods,
    planning,
    rules,
    stock,
    tasks,
    webhooks,
)
from models.base import Base

__all__ = ["Base"]
