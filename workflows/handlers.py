"""Import every module that registers relay handlers (workers and tests import this one)."""

from workflows import approvals, bindings, notify, qc, rules, webhooks  # noqa: F401  (register handlers)
