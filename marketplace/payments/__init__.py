"""One interface for payment providers; the order code does not know which one is in use."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from kabao.errors import DomainError


@dataclass(frozen=True)
class CheckoutSession:
    reference: str
    pay_url: str


@dataclass(frozen=True)
class ProviderPayment:
    reference: str
    status: str  # "requires_payment" | "succeeded" | "failed"
    amount: int
    currency: str


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str
    # "payment.succeeded" | "payment.failed" | "payment.refunded" | "payment.dispute_opened" |
    # "payment.dispute_closed"; any other type is stored and ignored.
    event_type: str
    reference: str
    amount: int
    currency: str
    payload: dict


@dataclass(frozen=True)
class ProviderRefund:
    """One refund asked of a provider: `amount` back on the payment `reference`, once per key."""

    reference: str
    amount: int
    idempotency_key: str


class WebhookSignatureError(Exception):
    pass


class ProviderUnavailable(DomainError):
    """The provider did not answer (after its client's own retries): a transient error, retried."""

    def __init__(self, message: str):
        super().__init__("payment_provider_unavailable", message, status=503)


class PaymentProvider(Protocol):
    name: str

    def create_payment(
        self, *, label: str, amount: int, currency: str, idempotency_key: str
    ) -> CheckoutSession:
        """Open a payment; `label` says what it pays for ("order-12", "deposit-3") to the provider.
        The same `idempotency_key` again opens nothing new: it answers with the same payment."""
        ...

    def retrieve(self, reference: str) -> ProviderPayment: ...

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        """Return money to the original payment method, once per key; raise if the provider did not
        accept it (the caller's transaction, and with it the ledger posting, then rolls back)."""
        ...

    def refund_many(self, refunds: Sequence[ProviderRefund]) -> None:
        """`refund` for each of `refunds`, in order, with the same meaning for each: a key already
        used is answered as before and moves nothing, a refund past what is left of its charge is
        refused, and any refusal raises (the caller's transaction, with the whole batch's ledger
        rows, then rolls back; the next try sends the same keys)."""
        ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...


def get_provider(name: str | None = None) -> PaymentProvider:
    # Each provider's module imported when it is first asked for: the simulated one does not load
    # the stripe library (0.1 – 0.2 s here, paid by the first refund of each worker process).
    name = name or settings.PAYMENT_PROVIDER
    if name == "simulated":
        from marketplace.payments.simulated import SimulatedProvider

        return SimulatedProvider()
    if name == "stripe":
        from marketplace.payments.stripe_provider import StripeProvider

        return StripeProvider()
    raise ValueError(f"unknown payment provider {name!r}")


def pay_url(reference: str) -> str:
    """Where the payer goes to pay: Kabao's Payment Element page for a PaymentIntent, the simulated
    gateway for the simulated provider's references."""
    from django.urls import reverse

    if reference.startswith("pi_"):
        return reverse("stripe-pay", kwargs={"reference": reference})
    return reverse("simulated-gateway", kwargs={"reference": reference})
