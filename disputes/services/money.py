"""What a resolution does with the money. Runs with the dispute and its order locked."""

from collections.abc import Callable, Sequence

from django.conf import settings

from accounts.models import User
from disputes.models import Dispute, Resolution
from escrow.models import Account, AccountKind, HoldStatus
from escrow.services import PostingSpec, account_get_or_create, hold_set_frozen, postings_create
from kabao.errors import DomainError
from marketplace.models import OrderStatus
from marketplace.services.orders import complete_locked_order
from marketplace.services.refunds import RefundRequest, refund_locked_order, refund_locked_orders
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


def _credit_accounts(disputes: Sequence[Dispute]) -> dict[tuple[int, str], Account]:
    """The buyers' credit accounts, made where missing: three statements for the batch."""
    wanted = {(dispute.buyer_id, dispute.order.currency) for dispute in disputes}
    codes = {f"buyer:{buyer_id}:credit:{currency}": (buyer_id, currency) for buyer_id, currency in wanted}
    Account.objects.bulk_create(
        [
            Account(code=code, kind=AccountKind.BUYER_CREDIT, currency=currency)
            for code, (_, currency) in sorted(codes.items())
        ],
        ignore_conflicts=True,
    )
    found = {account.code: account for account in Account.objects.filter(code__in=list(codes))}
    result = {}
    for code, (buyer_id, currency) in codes.items():
        if found[code].currency != currency:
            raise DomainError("currency_mismatch", f"account {code} is in {found[code].currency}")
        result[(buyer_id, currency)] = found[code]
    return result


def compensate_many(compensations: Sequence[tuple[Dispute, int]]) -> None:
    """Credit each buyer `amount` from the platform's compensation account: one posting per dispute
    (key `dispute:<id>:compensation`), the batch written together."""
    compensations = [(dispute, amount) for dispute, amount in compensations if amount]
    if not compensations:
        return
    credits = _credit_accounts([dispute for dispute, _ in compensations])
    sources: dict[str, Account] = {}
    postings = []
    for dispute, amount in compensations:
        currency = dispute.order.currency
        if currency not in sources:
            sources[currency] = account_get_or_create(
                code=f"platform:compensation:{currency}",
                kind=AccountKind.PLATFORM,
                currency=currency,
                allow_negative=True,
            )
        postings.append(
            PostingSpec(
                idempotency_key=f"dispute:{dispute.pk}:compensation",
                kind="dispute_compensation",
                reference=f"dispute:{dispute.pk}",
                lines=[(sources[currency], -amount), (credits[(dispute.buyer_id, currency)], amount)],
            )
        )
    postings_create(postings=postings)


def _compensate(dispute: Dispute, amount: int) -> None:
    compensate_many([(dispute, amount)])


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


def refund_in_full_and_compensate_locked(
    *, disputes: Sequence[Dispute], note_of: Callable[[Dispute], str]
) -> None:
    """The decision deadline's money for a batch of locked disputes (their orders locked too): what is
    left of each payment back to the buyer, plus the compensation. Sets `refunded_amount` and
    `compensation_amount` on each dispute (the caller saves them)."""
    refunds = []
    for dispute in disputes:
        payment = dispute.order.payment
        dispute.refunded_amount = payment.amount - payment.refunded_amount
        dispute.compensation_amount = compensation_for(dispute)
        refunds.append(
            RefundRequest(order=dispute.order, amount=dispute.refunded_amount, reason=note_of(dispute))
        )
    refund_locked_orders(refunds=refunds, actor=None)
    compensate_many([(dispute, dispute.compensation_amount) for dispute in disputes])
