from typing import Any

from django.core.management.base import BaseCommand, CommandError

from marketplace.crypto import CodeDecryptionError
from marketplace.services.inventory import codes_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every code with the newest key of KABAO_CODE_KEYS (list it first, keep the old ones)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = codes_reencrypt()
        except CodeDecryptionError as exc:  # names the code by id; running again resumes
            raise CommandError(f"rotation stopped: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {count} codes with the newest key"))
