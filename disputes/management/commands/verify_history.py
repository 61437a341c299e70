from typing import Any

from django.core.management.base import BaseCommand, CommandError

from disputes.history import LedgerViolation, history_verify
from disputes.models import DisputeEvent
from marketplace.models import OrderEvent


class Command(BaseCommand):
    help = (
        "Check the ledger (as verify_ledger) and every order's and dispute's timeline against its hash "
        "chain; exit non-zero naming the first broken row."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report, breaks = history_verify(progress=self.stdout.write)
        except LedgerViolation as exc:
            raise CommandError(f"ledger violation: {exc}") from exc
        if breaks:
            raise CommandError("timeline broken:\n" + "\n".join(breaks))
        self.stdout.write(
            self.style.SUCCESS(
                f"history ok: {report.postings} postings, {OrderEvent.objects.count()} order events, "
                f"{DisputeEvent.objects.count()} dispute events"
            )
        )
