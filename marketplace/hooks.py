"""Where a higher app (disputes) adds to marketplace's pages and API without marketplace importing it.

Imports point downward only; the disputes app registers its function here when it is ready.
"""

from collections.abc import Callable

from marketplace.models import Order

OrderDisputeSummary = Callable[[Order], dict | None]
_order_dispute_summary: list[OrderDisputeSummary] = []


def register_order_dispute_summary(function: OrderDisputeSummary) -> None:
    _order_dispute_summary[:] = [function]


def order_dispute_summary(order: Order) -> dict | None:
    """{"id", "status", "level", "url"} of the order's latest dispute, or None."""
    return _order_dispute_summary[0](order) if _order_dispute_summary else None
