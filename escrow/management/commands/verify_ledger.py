from typing import Any

from django.core.management.base import BaseCommand, CommandError

from escrow.verify import LedgerViolation, ledger_verify


class Command(BaseCommand):
    help = "Check every ledger invariant and the hash chain; exit non-zero on the first violation."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = ledger_verify(progress=self.stdout.write)
        except LedgerViolation as exc:
            raise CommandError(f"ledger violation: {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"ledger ok: {report.postings} postings, {report.entries} entries, "
                f"{report.accounts} accounts, {report.holds} holds"
            )
        )
