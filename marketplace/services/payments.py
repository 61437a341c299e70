"""Webhooks in, and the simulated gateway's own actions."""

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from kabao.errors import DomainError, NotFound
from marketplace.models import (
    Payment,
    PaymentPurpose,
    PaymentStatus,
    SimulatedCharge,
    SimulatedChargeStatus,
    WebhookEvent,
)
from marketplace.payments import ProviderUnavailable, WebhookSignatureError, get_provider
from marketplace.payments.simulated import SIGNATURE_HEADER, event_body, sign
from marketplace.services.chargebacks import (
    payment_chargeback_closed,
    payment_chargeback_opened,
    payment_refunded_at_provider,
)
from marketplace.services.orders import payment_captured, payment_failed

logger = logging.getLogger(__name__)
RECONCILE_LIMIT = 1000
HANDLED = {
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "payment.dispute_opened",
    "payment.dispute_closed",
}


def webhook_receive(
    *, provider_name: str, body: bytes, headers: Mapping[str, str]
) -> tuple[WebhookEvent, bool]:
    """Verify and store a provider event once; it is acted on by a task after commit.

    Returns (event, is_new). A bad signature is DomainError 400 and stores nothing.
    """
    provider = get_provider(provider_name)
    try:
        event = provider.parse_webhook(body=body, headers=headers)
    except WebhookSignatureError as exc:
        raise DomainError("invalid_signature", f"Webhook refused: {exc}.") from exc
    try:
        with transaction.atomic(durable=True):
            stored = WebhookEvent.objects.create(
                provider=provider.name,
                event_id=event.event_id,
                event_type=event.event_type,
                payload=event.payload,
            )
            from marketplace.tasks import process_webhook_event_task

            transaction.on_commit(lambda: process_webhook_event_task.delay(stored.pk))
    except IntegrityError:
        existing = WebhookEvent.objects.get(provider=provider.name, event_id=event.event_id)
        if existing.processed_at is None:
            # The provider sends again what we stored but never finished (a lost task, a worker that
            # died): act on it again; acting is idempotent, storing stays once.
            from marketplace.tasks import process_webhook_event_task

            transaction.on_commit(lambda: process_webhook_event_task.delay(existing.pk))
        return existing, False
    return stored, True


def webhook_process(*, event_pk: int) -> int | None:
    """Act on a stored event once. Every action is idempotent and re-reads the payment, so a crash
    between acting and marking the event processed only repeats a no-op, and events may come in any
    order: one about a payment not yet seen captured asks the provider first.

    Returns the id of the order whose payment this event captured (its delivery is due), or None."""
    event = WebhookEvent.objects.get(pk=event_pk)
    if event.processed_at is not None:
        return None
    captured_order_id = None
    data = event.payload.get("data", {})
    # Only the provider that holds a payment speaks for it: a Stripe event naming a simulated
    # reference (or the reverse) is ignored.
    payment = Payment.objects.filter(reference=data.get("reference") or "", provider=event.provider).first()
    if event.event_type not in HANDLED or payment is None:
        # Not ours (another integration on the same account) or a type we do not act on.
        logger.info("webhook %s of type %s ignored", event.event_id, event.event_type)
    elif event.event_type == "payment.succeeded":
        payment = payment_captured(
            reference=payment.reference, amount=int(data["amount"]), currency=data["currency"]
        )
        captured_order_id = payment.order_id
    elif event.event_type == "payment.failed":
        payment_failed(reference=payment.reference)
    elif event.event_type == "payment.refunded":
        # A refunded charge was captured: its amount is the capture, even if that event is late.
        payment_captured(reference=payment.reference, amount=int(data["amount"]), currency=data["currency"])
        payment_refunded_at_provider(payment_pk=payment.pk, refunded_amount=int(data["refunded_amount"]))
    else:
        payment = payment_refresh(payment=payment)  # a disputed charge was captured: learn it first
        dispute_id, amount, currency = data["dispute"], int(data["amount"]), data["currency"]
        if event.event_type == "payment.dispute_opened":
            payment_chargeback_opened(
                payment_pk=payment.pk,
                dispute_id=dispute_id,
                amount=amount,
                currency=currency,
                reason=data.get("reason", ""),
            )
        else:
            payment_chargeback_closed(
                payment_pk=payment.pk,
                dispute_id=dispute_id,
                amount=amount,
                currency=currency,
                reason=data.get("reason", ""),
                status=data.get("status", ""),
            )
    WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(processed_at=timezone.now())
    return captured_order_id


def simulated_gateway_pay(*, reference: str, outcome: str, drop_webhook: bool) -> SimulatedCharge:
    """The buyer pays (or fails to pay) at the simulated gateway, which then sends its webhook."""
    if outcome not in ("succeeded", "failed"):
        raise DomainError(
            "invalid", "outcome must be 'succeeded' or 'failed'", fields={"outcome": ["invalid"]}
        )
    with transaction.atomic(durable=True):
        charge = SimulatedCharge.objects.select_for_update().filter(reference=reference).first()
        if charge is None:
            raise NotFound("No such payment.")
        if charge.status == SimulatedChargeStatus.SUCCEEDED:
            return charge  # paid already; a second click charges nothing
        charge.status = outcome
        charge.save(update_fields=["status"])
        if not drop_webhook:
            body = event_body(charge).decode()
            from marketplace.tasks import deliver_simulated_webhook_task

            # A broker that refuses the webhook does not undo the committed charge: reconciliation
            # asks the gateway and finds it (sweeps.sweep_reconcile_unpaid).
            transaction.on_commit(lambda: deliver_simulated_webhook_task.delay(body), robust=True)
    return charge


def simulated_webhook_deliver(*, body: str) -> None:
    """The gateway's side of a webhook: sign the body and hand it to the receiving endpoint's service."""
    raw = body.encode()
    webhook_receive(provider_name="simulated", body=raw, headers={SIGNATURE_HEADER: sign(raw)})


def payment_refresh(*, payment: Payment) -> Payment:
    """Ask the provider about a payment still open here, and act on its answer as on a webhook.

    The payer's "check again" button: a payment whose webhook was lost proceeds at once, without
    waiting for reconciliation.
    """
    if payment.status == PaymentStatus.CREATED:
        answer = get_provider(payment.provider).retrieve(payment.reference)
        if answer.status == "succeeded":
            payment_captured(reference=payment.reference, amount=answer.amount, currency=answer.currency)
        elif answer.status == "failed":
            payment_failed(reference=payment.reference)
    payment.refresh_from_db()
    return payment


def deposit_payments_reconcile(*, now: datetime | None = None) -> int:
    """Ask the provider about deposit payments still open after KABAO_RECONCILE_AFTER_SECONDS, as the
    order sweep does for unpaid orders (a deposit has no order, so that sweep never sees it).
    Returns how many were found captured. Safe to run from several sweeps: capture is idempotent."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.KABAO_RECONCILE_AFTER_SECONDS)
    found = 0
    for payment in Payment.objects.filter(
        purpose=PaymentPurpose.DEPOSIT, status=PaymentStatus.CREATED, created_at__lte=cutoff
    ).order_by("created_at")[:RECONCILE_LIMIT]:
        try:
            payment = payment_refresh(payment=payment)
        except ProviderUnavailable:
            logger.warning("reconciliation could not ask %s about %s", payment.provider, payment.reference)
            continue
        if payment.status == PaymentStatus.SUCCEEDED:
            logger.warning(
                "reconciliation found a captured deposit payment without its webhook: %s", payment.reference
            )
            found += 1
    return found
