"""What a resolution does with the money. Runs with the dispute and its order locked."""

from django.conf import settings

from accounts.models import User
from disputes.models import Dispute, Resolution
from escrow.models import AccountKind, HoldStatus
from escrow.services import account_get_or_create, hold_set_frozen, posting_create
from kabao.errors import DomainError
from marketplace.models import OrderStatus
from marketplace.services.orders import complete_locked_order
from marketplace.services.refunds import refund_locked_order
from marketplace.services.transitions import order_transition


def _release(dispute: Dispute, actor: User | None) -> None:
    """The merchant keeps the money: an unsettled hold is released (minus fee); after release there is
    nothing to move and the order is simply completed again."""
    order = dispute.order
    hold = order.hold
    if hold is not None:
        hold.refresh_from_db()
    if hold is not None and hold.status == HoldStatus.HELD:
        hold_set_frozen(hold=hold, is_frozen=False)
        complete_locked_order(order=order, actor=actor, note=f"dispute_{dispute.pk}_released")
    else:
        order_transition(
            order=order, to=OrderStatus.COMPLETED, actor=actor, note=f"dispute_{dispute.pk}_released"
        )


def _compensate(dispute: Dispute, amount: int) -> None:
    currency = dispute.order.currency
    source = account_get_or_create(
        code=f"platform:compensation:{currency}",
        kind=AccountKind.PLATFORM,
        currency=currency,
        allow_negative=True,
    )
    credit = account_get_or_create(
        code=f"buyer:{dispute.buyer_id}:credit:{currency}", kind=AccountKind.BUYER_CREDIT, currency=currency
    )
    posting_create(
        idempotency_key=f"dispute:{dispute.pk}:compensation",
        kind="dispute_compensation",
        reference=f"dispute:{dispute.pk}",
        lines=[(source, -amount), (credit, amount)],
    )


def compensation_for(dispute: Dispute) -> int:
    return dispute.order.amount * settings.KABAO_DISPUTE_COMPENSATION_BPS // 10_000


def settle_locked(
    *, dispute: Dispute, resolution: str, amount: int | None, actor: User | None, compensation: int = 0
) -> int:
    """Move the money for `resolution`; return how much went back to the buyer."""
    order = dispute.order
    payment = order.payment
    remaining = payment.amount - payment.refunded_amount
    note = f"dispute_{dispute.pk}_{resolution}"
    if resolution in (Resolution.RELEASE, Resolution.REPLACEMENT):
        _release(dispute, actor)
        refunded = 0
    elif resolution == Resolution.REFUND:
        refund_locked_order(order=order, refund_amount=remaining, reason=note, actor=actor)
        refunded = remaining
    elif resolution == Resolution.PARTIAL_REFUND:
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < remaining:
            raise DomainError(
                "invalid_amount",
                f"A partial refund is between 1 and {remaining - 1} (minor units).",
                fields={"amount": ["out of range"]},
            )
        refund_locked_order(order=order, refund_amount=amount, reason=note, actor=actor)
        refunded = amount
    else:
        raise DomainError("invalid", f"Unknown resolution {resolution}.")
    if compensation:
        _compensate(dispute, compensation)
    return refunded
