"""Every difference between Stripe and Kabao's ledger for one day (UTC), for the operator.

`python manage.py payments_report --date 2026-11-21`. Lists each difference on its own line and
exits non-zero when there is any, so a cron job can alert on it. Reads only: nothing is corrected
here (reconciliation and the webhook handlers do that, through the services).
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketplace.models import Payment, PaymentStatus
from marketplace.payments.stripe_provider import StripeProvider

CAPTURED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)


def differences(intent: dict[str, Any], payment: Payment | None) -> list[str]:
    reference = intent["id"]
    if payment is None:
        return [f"unknown_to_ledger {reference} stripe_status={intent['status']}"]
    found = []
    is_succeeded = intent["status"] == "succeeded"
    if is_succeeded != (payment.status in CAPTURED):
        found.append(f"status {reference} stripe={intent['status']} kabao={payment.status}")
    if is_succeeded:
        received, currency = intent["amount_received"], intent["currency"].upper()
        if (received, currency) != (payment.amount, payment.currency):
            found.append(
                f"amount {reference} stripe={received} {currency} kabao={payment.amount} {payment.currency}"
            )
        charge = intent.get("latest_charge")
        refunded = charge.get("amount_refunded", 0) if isinstance(charge, dict) else 0
        if refunded != payment.refunded_amount:
            found.append(f"refunded {reference} stripe={refunded} kabao={payment.refunded_amount}")
        order = payment.order
        if order is not None and (order.hold is None or order.hold.amount != received):
            held = order.hold.amount if order.hold else None
            found.append(f"hold {reference} stripe={received} kabao_hold={held}")
    return found


class Command(BaseCommand):
    help = "Report every difference between Stripe and the ledger for one UTC day."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD, UTC; default yesterday")

    def handle(self, *args: Any, **options: Any) -> None:
        day = (
            date.fromisoformat(options["date"])
            if options["date"]
            else datetime.now(UTC).date() - timedelta(days=1)
        )
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        seen: set[str] = set()
        found: list[str] = []
        for intent in StripeProvider().payment_intents_created(start=start, end=end):
            if "kabao_payment" not in (intent.get("metadata") or {}):
                continue  # another integration on the same Stripe account
            seen.add(intent["id"])
            payment = Payment.objects.select_related("order__hold").filter(reference=intent["id"]).first()
            found += differences(intent, payment)
        ours = Payment.objects.filter(provider="stripe", created_at__gte=start, created_at__lt=end)
        for reference in ours.exclude(reference__in=seen).values_list("reference", flat=True):
            found.append(f"missing_at_stripe {reference}")
        for line in found:
            self.stdout.write(line)
        self.stdout.write(f"{day}: {len(seen)} PaymentIntents checked, {len(found)} differences")
        if found:
            raise CommandError(f"{len(found)} differences between Stripe and the ledger on {day}")
