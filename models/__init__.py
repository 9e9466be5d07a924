"""The shared inventory and finance model and the operations that change it.

Importing this package registers every table on ``Base.metadata``; it imports no web
framework, no task queue and no channel code.
"""

from models import (  # noqa: F401  (register tables)  # noqa: F401  (issue 5 tables)  # noqa: F401  (issue 3 mini-program tables)
    approvals,
    catalog,
    chat,
    devices,
    documents,
    event_log,
    finance,
    identity,
    infra,
    intake,
    miniprogram,
    org,
    planning,
    rules,
    stock,
    tasks,
    webhooks,
)
from models.base import Base

__all__ = ["Base"]
