"""协同 (Collaboration): rules with a sentence builder and sandbox, approval chains, webhooks with their
delivery log, devices and their last readings, edge nodes (站点节点), and the event-health board."""

from console.collaboration import chains, devices, health, nodes, rules, webhooks  # noqa: F401  (routes on import)
