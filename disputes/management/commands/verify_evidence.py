"""Check an order's evidence file (from "Export my evidence") against its own hashes and the ledger."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from escrow.hashing import posting_hash
from escrow.models import Posting


def _file_hash(posting: dict[str, Any]) -> str:
    return posting_hash(
        prev_hash=posting["prev_hash"],
        idempotency_key=posting["idempotency_key"],
        kind=posting["kind"],
        reference=posting["reference"],
        created_at=datetime.fromisoformat(posting["created_at"]),
        entries=[(entry["account_id"], entry["amount"], entry["currency"]) for entry in posting["entries"]],
    )


def _ledger_hash(posting: Posting) -> str:
    return posting_hash(
        prev_hash=posting.prev_hash,
        idempotency_key=posting.idempotency_key,
        kind=posting.kind,
        reference=posting.reference,
        created_at=posting.created_at,
        entries=[(entry.account_id, entry.amount, entry.currency) for entry in posting.entries.all()],
    )


def evidence_problems(evidence: dict[str, Any]) -> list[str]:
    """Every way the file differs from its own hashes or from the ledger; empty when it is intact."""
    problems: list[str] = []
    postings = evidence.get("postings")
    if not isinstance(postings, list):
        return ["the file has no list of postings"]
    stored = {
        p.pk: p
        for p in Posting.objects.filter(pk__in=[p.get("id") for p in postings]).prefetch_related("entries")
    }
    for item in postings:
        label = f"posting {item.get('id')}"
        try:
            recomputed = _file_hash(item)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{label}: incomplete in the file ({exc})")
            continue
        if recomputed != item["hash"]:
            problems.append(
                f"{label}: its content in the file does not match its hash (the file was altered)"
            )
        posting = stored.get(item["id"])
        if posting is None:
            problems.append(f"{label}: not in the ledger")
            continue
        if posting.hash != item["hash"] or posting.prev_hash != item["prev_hash"]:
            problems.append(f"{label}: its hashes differ from the ledger's")
        if _ledger_hash(posting) != posting.hash:
            problems.append(f"{label}: the ledger row does not match its own hash (the ledger was altered)")
    return problems


class Command(BaseCommand):
    help = "Verify an evidence file: recompute each posting's hash and compare it with the ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            evidence = json.loads(options["file"].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        if not isinstance(evidence, dict):
            raise CommandError("not an evidence file")
        problems = evidence_problems(evidence)
        if problems:
            raise CommandError("evidence NOT intact:\n" + "\n".join(problems))
        count = len(evidence["postings"])
        self.stdout.write(f"evidence intact: {count} postings match their hashes and the ledger")
