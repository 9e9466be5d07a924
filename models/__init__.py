"""The shared inventory and finance model and the operations that change it.

Importing this package registers every table on ``Base.metadata``; it imports no web
framework, no task queue and no channel code.
"""

from models import catalog, documents, finance, identity, infra, org, stock  # noqa: F401  (register tables)
from models.base import Base

__all__ = ["Base"]
