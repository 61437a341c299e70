"""The simulated gateway: a provider that lives in this database and signs its webhooks.

It behaves like a real one where it matters: the charge is the provider's own record, the webhook
is signed (`Kabao-Signature: t=<unix>,v1=<hex hmac-sha256 of "t.body">`) and delivered after the
payment, and it can lose the webhook (`drop_webhook`) so that only reconciliation finds the money.
"""

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.db import transaction

from escrow.services import rows_update
from kabao.errors import Conflict, NotFound
from marketplace.models import SimulatedCharge, SimulatedChargeStatus
from marketplace.payments import (
    CheckoutSession,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    WebhookSignatureError,
    pay_url,  # pages import it from here; it serves every provider's references
)

SIGNATURE_HEADER = "Kabao-Signature"
TOLERANCE_SECONDS = 300


def sign(body: bytes, *, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    secret = settings.KABAO_SIMULATED_WEBHOOK_SECRET.encode()
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(body: bytes, header: str) -> None:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise WebhookSignatureError("malformed signature header") from exc
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        raise WebhookSignatureError("signature timestamp outside the tolerance")
    expected = sign(body, timestamp=timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise WebhookSignatureError("signature does not match")


class SimulatedProvider:
    name = "simulated"

    def create_payment(
        self, *, label: str, amount: int, currency: str, idempotency_key: str
    ) -> CheckoutSession:
        # No network lies between the caller and this gateway, so no answer can be lost and retried:
        # the key is not needed here (Stripe's provider sends it).
        reference = f"sim_{label}_{secrets.token_urlsafe(12)}"
        SimulatedCharge.objects.create(reference=reference, amount=amount, currency=currency)
        return CheckoutSession(reference=reference, pay_url=pay_url(reference))

    def retrieve(self, reference: str) -> ProviderPayment:
        charge = SimulatedCharge.objects.filter(reference=reference).first()
        if charge is None:
            raise NotFound("no such simulated charge")
        return ProviderPayment(
            reference=reference, status=charge.status, amount=charge.amount, currency=charge.currency
        )

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        self.refund_many(
            [ProviderRefund(reference=reference, amount=amount, idempotency_key=idempotency_key)]
        )

    def refund_many(self, refunds: Sequence[ProviderRefund]) -> None:
        """Four statements in a savepoint for the whole batch, whatever its size: the charges locked
        in primary-key order, the keys already used read under those locks (a key is refunded on one
        charge, so none can be written meanwhile), the new refunds inserted, their charges updated.
        Everything is checked before the first write: a refusal leaves nothing behind."""
        from marketplace.models import SimulatedRefund

        if not refunds:
            return
        with transaction.atomic():
            references = {refund.reference for refund in refunds}
            charges = {
                charge.reference: charge
                for charge in SimulatedCharge.objects.select_for_update()
                .filter(reference__in=references)
                .order_by("pk")
            }
            if len(charges) != len(references):
                raise NotFound("no such simulated charge")
            used = set(
                SimulatedRefund.objects.filter(
                    idempotency_key__in={refund.idempotency_key for refund in refunds}
                ).values_list("idempotency_key", flat=True)
            )
            new = []
            for refund in refunds:
                if refund.idempotency_key in used:
                    continue  # the same refund again: the provider answers as before
                used.add(refund.idempotency_key)
                charge = charges[refund.reference]
                if charge.refunded_amount + refund.amount > charge.amount:
                    raise Conflict("refund_exceeds_charge", "a refund cannot exceed the charge")
                charge.refunded_amount += refund.amount
                new.append(
                    SimulatedRefund(
                        idempotency_key=refund.idempotency_key, charge=charge, amount=refund.amount
                    )
                )
            if not new:
                return
            SimulatedRefund.objects.bulk_create(new)
            touched = {refund.charge.pk: refund.charge for refund in new}
            rows_update([touched[pk] for pk in sorted(touched)], ["refunded_amount"])

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        verify(body, headers.get(SIGNATURE_HEADER, ""))
        try:
            payload = json.loads(body)
            data = payload["data"]
            return ProviderEvent(
                event_id=str(payload["id"]),
                event_type=str(payload["type"]),
                reference=str(data["reference"]),
                amount=int(data["amount"]),
                currency=str(data["currency"]),
                payload=payload,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookSignatureError("signed body is not a valid event") from exc


def event_body(charge: SimulatedCharge) -> bytes:
    payload = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment.succeeded" if charge.status == SimulatedChargeStatus.SUCCEEDED else "payment.failed",
        "created": int(time.time()),
        "data": {"reference": charge.reference, "amount": charge.amount, "currency": charge.currency},
    }
    return json.dumps(payload, separators=(",", ":")).encode()
