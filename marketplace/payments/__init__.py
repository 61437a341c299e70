"""One interface for payment providers; the order code does not know which one is in use."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings


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
    event_type: str  # "payment.succeeded" | "payment.failed"
    reference: str
    amount: int
    currency: str
    payload: dict


class WebhookSignatureError(Exception):
    pass


class PaymentProvider(Protocol):
    name: str

    def create_payment(self, *, label: str, amount: int, currency: str) -> CheckoutSession:
        """Open a payment; `label` says what it pays for ("order-12", "deposit-3") to the provider."""
        ...

    def retrieve(self, reference: str) -> ProviderPayment: ...

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None: ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent: ...


def get_provider(name: str | None = None) -> PaymentProvider:
    from marketplace.payments.simulated import SimulatedProvider

    name = name or settings.PAYMENT_PROVIDER
    if name == "simulated":
        return SimulatedProvider()
    raise ValueError(f"unknown payment provider {name!r}")
