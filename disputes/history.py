"""The whole record checked at once: the ledger (escrow.verify), then every order's and every
dispute's timeline against its hash chain (kabao/chains.py). Lives in the top layer, which may read
every app's tables."""

from collections.abc import Callable, Iterator

from disputes.models import DisputeEvent
from escrow.verify import LedgerViolation, VerifyReport, ledger_verify
from kabao.chains import chain_breaks
from marketplace.models import OrderEvent

CHUNK = 5000


def timeline_breaks() -> Iterator[str]:
    """Per order and per dispute, the first event that does not match its hash or its link."""
    yield from chain_breaks(
        OrderEvent.objects.order_by("order_id", "id").iterator(chunk_size=CHUNK),
        parent="order_id",
        label=lambda order_id: f"order {order_id}'s timeline",
    )
    yield from chain_breaks(
        DisputeEvent.objects.order_by("dispute_id", "id").iterator(chunk_size=CHUNK),
        parent="dispute_id",
        label=lambda dispute_id: f"dispute {dispute_id}'s timeline",
    )


def history_verify(progress: Callable[[str], None] = lambda _line: None) -> tuple[VerifyReport, list[str]]:
    """Raise LedgerViolation for the ledger's first broken invariant; return what was checked and
    every broken timeline (each named by its first broken event)."""
    report = ledger_verify(progress=progress)
    breaks = list(timeline_breaks())
    if not breaks:
        progress("ok  every order's and every dispute's timeline matches its hash chain")
    return report, breaks


__all__ = ["LedgerViolation", "history_verify", "timeline_breaks"]
