"""Stripe behind the provider interface: PaymentIntents, the Refunds API and signed webhooks.

The reference of a Stripe payment is its PaymentIntent id (`pi_…`), known from the moment the order
is created, so reconciliation can retrieve it whether or not the buyer ever reached the pay page.
Stripe events are translated here into the provider-neutral types the payment services act on
("payment.succeeded", "payment.refunded", "payment.dispute_opened", …); nothing above this module
reads a Stripe object.
"""

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings

from kabao.errors import Conflict
from marketplace.payments import (
    CheckoutSession,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    ProviderUnavailable,
    WebhookSignatureError,
)

SIGNATURE_HEADER = "Stripe-Signature"
# Stripe's own default: an event signed more than five minutes ago is refused (replays of old bodies).
TOLERANCE_SECONDS = stripe.Webhook.DEFAULT_TOLERANCE

# Stripe's statuses folded into the interface's three; a PaymentIntent whose attempt failed goes
# back to requires_payment_method and may still be paid, so only "canceled" is final failure.
_STATUS = {"succeeded": "succeeded", "canceled": "failed"}


def client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.KABAO_STRIPE_API_BASE},
        # The library retries timeouts and 5xx itself, resending the same Idempotency-Key, so a
        # retried create or refund is one object at Stripe.
        max_network_retries=settings.KABAO_STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=settings.KABAO_STRIPE_TIMEOUT_SECONDS),
    )


def _unavailable(exc: Exception) -> ProviderUnavailable:
    return ProviderUnavailable(f"Stripe did not answer: {exc}. Try again.")


def payment_method_types(currency: str) -> list[str]:
    """Cards everywhere; Alipay and WeChat Pay only in currencies the account can present them in.

    Stripe charges these wallets in a settlement currency (HKD, USD, EUR…), not CNY, and Kabao never
    converts an order's amount: a CNY order is offered cards only (see README, Stripe).
    """
    methods = ["card"]
    if currency.lower() in settings.KABAO_STRIPE_WALLET_CURRENCIES:
        methods += ["alipay", "wechat_pay"]
    return methods


def _metadata(label: str) -> dict[str, str]:
    kind, _, rest = label.partition("-")
    metadata = {"kabao_payment": label}
    if kind == "order":
        metadata["order_id"] = rest
    elif kind == "deposit":
        metadata["merchant_id"] = rest
    return metadata


def create_idempotency_key(key: str) -> str:
    # `key` names one order or one deposit payment, so the same click twice is one PaymentIntent; the
    # prefix keeps two deployments sharing a Stripe account (staging, a reset test database) from
    # answering each other's orders.
    return f"{settings.KABAO_STRIPE_IDEMPOTENCY_PREFIX}:create:{key}"


class StripeProvider:
    name = "stripe"

    def create_payment(
        self, *, label: str, amount: int, currency: str, idempotency_key: str
    ) -> CheckoutSession:
        methods = payment_method_types(currency)
        params: Any = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method_types": methods,
            "metadata": _metadata(label),
            "description": f"Kabao {label}",
        }
        if "wechat_pay" in methods:
            params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
        try:
            intent = client().v1.payment_intents.create(
                params,
                {"idempotency_key": create_idempotency_key(idempotency_key)},
            )
        except stripe.APIConnectionError as exc:
            raise _unavailable(exc) from exc
        from marketplace.payments import pay_url

        return CheckoutSession(reference=intent.id, pay_url=pay_url(intent.id))

    def retrieve(self, reference: str) -> ProviderPayment:
        try:
            intent = client().v1.payment_intents.retrieve(reference)
        except stripe.APIConnectionError as exc:
            raise _unavailable(exc) from exc
        status = _STATUS.get(intent.status, "requires_payment")
        amount = intent.amount_received if status == "succeeded" else intent.amount
        return ProviderPayment(
            reference=intent.id, status=status, amount=amount, currency=intent.currency.upper()
        )

    def client_secret(self, reference: str) -> str:
        """What the Payment Element needs to confirm this PaymentIntent in the buyer's browser."""
        try:
            secret = client().v1.payment_intents.retrieve(reference).client_secret
        except stripe.APIConnectionError as exc:
            raise _unavailable(exc) from exc
        assert secret is not None
        return secret

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        """Back to the original payment method. Raising rolls back the caller's ledger posting, so the
        ledger moves only when Stripe has accepted the refund; retried later with the same key, a
        refund Stripe did make while we lost its answer is answered again, not made twice."""
        try:
            refund = client().v1.refunds.create(
                {"payment_intent": reference, "amount": amount},
                {"idempotency_key": f"{settings.KABAO_STRIPE_IDEMPOTENCY_PREFIX}:{idempotency_key}"},
            )
        except stripe.APIConnectionError as exc:
            raise _unavailable(exc) from exc
        except stripe.InvalidRequestError as exc:
            raise Conflict("refund_refused", f"Stripe refused the refund: {exc.user_message}") from exc
        if refund.status in ("failed", "canceled"):
            raise Conflict("refund_refused", f"Stripe answered the refund with status {refund.status}.")

    def refund_many(self, refunds: Sequence[ProviderRefund]) -> None:
        # Stripe has no batch refund: one HTTP request per refund, each with its own key. The first
        # refusal raises and the caller's batch rolls back; the refunds Stripe already made are
        # answered again, not made twice, when the batch is retried with the same keys.
        for refund in refunds:
            self.refund(
                reference=refund.reference, amount=refund.amount, idempotency_key=refund.idempotency_key
            )

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        if not settings.STRIPE_WEBHOOK_SECRET:
            # An empty secret would accept bodies anyone can sign: refuse all until it is configured.
            raise WebhookSignatureError("Stripe webhooks are not configured here")
        header = headers.get(SIGNATURE_HEADER)
        if not header:
            raise WebhookSignatureError("no Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(
                body, header, settings.STRIPE_WEBHOOK_SECRET, tolerance=TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookSignatureError(str(exc)) from exc
        except ValueError as exc:
            raise WebhookSignatureError("signed body is not JSON") from exc
        raw = event.to_dict()
        return event_from_stripe(raw)

    def payment_intents_created(self, *, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every PaymentIntent created in [start, end), with its latest charge (for refunds)."""
        try:
            page = client().v1.payment_intents.list(
                {
                    "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
                    "limit": 100,
                    "expand": ["data.latest_charge"],
                }
            )
            for intent in page.auto_paging_iter():
                yield intent.to_dict()
        except stripe.APIConnectionError as exc:
            raise _unavailable(exc) from exc


def event_from_stripe(raw: dict[str, Any]) -> ProviderEvent:
    """A Stripe event as the payment services see it; other event types are stored and ignored."""
    kind = raw.get("type", "")
    obj = raw.get("data", {}).get("object", {})
    data: dict[str, Any] = {}
    try:
        if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            event_type = "payment.succeeded" if kind.endswith("succeeded") else "payment.failed"
            amount = obj["amount_received"] if event_type == "payment.succeeded" else obj["amount"]
            data = {"reference": obj["id"], "amount": int(amount), "currency": obj["currency"].upper()}
        elif kind == "charge.refunded":
            event_type = "payment.refunded"
            data = {
                "reference": obj["payment_intent"],
                "amount": int(obj["amount_captured"] or obj["amount"]),
                "refunded_amount": int(obj["amount_refunded"]),
                "currency": obj["currency"].upper(),
            }
        elif kind in ("charge.dispute.created", "charge.dispute.closed"):
            event_type = "payment.dispute_opened" if kind.endswith("created") else "payment.dispute_closed"
            data = {
                "reference": obj["payment_intent"],
                "dispute": obj["id"],
                "amount": int(obj["amount"]),
                "currency": obj["currency"].upper(),
                "reason": obj.get("reason") or "",
                "status": obj.get("status") or "",
            }
        else:
            event_type = kind
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise WebhookSignatureError(f"signed {kind} event is missing a field: {exc}") from exc
    return ProviderEvent(
        event_id=str(raw["id"]),
        event_type=event_type,
        reference=str(data.get("reference", "")),
        amount=int(data.get("amount", 0)),
        currency=str(data.get("currency", "")),
        payload={"id": raw["id"], "type": event_type, "data": data, "provider_event": raw},
    )
