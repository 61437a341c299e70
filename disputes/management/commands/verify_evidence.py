"""Check an order's evidence file (from "Export my evidence") against its own hashes and the ledger."""

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from disputes.models import DisputeEvent
from escrow.hashing import posting_hash
from escrow.models import Posting
from kabao.chains import chain_breaks, link_hash
from marketplace.models import OrderEvent


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


def _order_event(item: dict[str, Any], order_id: int) -> OrderEvent:
    return OrderEvent(
        pk=item["id"],
        order_id=order_id,
        event=item["event"],
        from_status=item["from_status"],
        to_status=item["to_status"],
        actor_id=item["actor_id"],
        note=item["note"],
        at=datetime.fromisoformat(item["at"]),
        prev_hash=item["prev_hash"],
        hash=item["hash"],
    )


def _dispute_event(item: dict[str, Any], dispute_id: int) -> DisputeEvent:
    return DisputeEvent(
        pk=item["id"],
        dispute_id=dispute_id,
        kind=item["kind"],
        role=item["role"],
        actor_id=item["actor_id"],
        message=item["message"],
        amount=item["amount"],
        data=item["data"],
        at=datetime.fromisoformat(item["at"]),
        prev_hash=item["prev_hash"],
        hash=item["hash"],
    )


def _timeline_problems(
    label: str, items: Any, build: Callable[[dict[str, Any]], Any], parent: str, stored: dict[int, Any]
) -> list[str]:
    """One timeline of the file: each event matches its hash and links to the one before it (the
    file was not altered), and equals Kabao's row, which itself still matches its hash."""
    if not isinstance(items, list):
        return [f"{label}: the file has no list of events"]
    try:
        events = [build(item) for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        return [f"{label}: an event is incomplete in the file ({exc})"]
    problems = list(chain_breaks(events, parent=parent, label=lambda _id: f"{label} in the file"))
    for event in events:
        row = stored.get(event.pk)
        if row is None:
            problems.append(f"{label}: event {event.pk} is not in Kabao's records")
        elif (row.prev_hash, row.hash) != (event.prev_hash, event.hash):
            problems.append(f"{label}: event {event.pk}'s hashes differ from Kabao's records")
        elif link_hash(row.prev_hash, row.chain_content()) != row.hash:
            problems.append(f"{label}: event {event.pk} in Kabao's records no longer matches its hash")
    return problems


def _timelines_problems(evidence: dict[str, Any]) -> list[str]:
    order = evidence.get("order")
    if not isinstance(order, dict) or not isinstance(order.get("id"), int):
        return ["the file has no order"]
    order_id = order["id"]
    problems = _timeline_problems(
        f"order {order_id}'s timeline",
        order.get("events"),
        lambda item: _order_event(item, order_id),
        "order_id",
        OrderEvent.objects.filter(order_id=order_id).in_bulk(),
    )
    disputes = evidence.get("disputes")
    if not isinstance(disputes, list):
        return [*problems, "the file has no list of disputes"]
    for dispute in disputes:
        dispute_id = dispute.get("id") if isinstance(dispute, dict) else None
        if not isinstance(dispute_id, int):
            problems.append("a dispute in the file has no id")
            continue
        problems += _timeline_problems(
            f"dispute {dispute_id}'s timeline",
            dispute.get("events"),
            lambda item, dispute_id=dispute_id: _dispute_event(item, dispute_id),  # type: ignore[misc]
            "dispute_id",
            DisputeEvent.objects.filter(dispute_id=dispute_id, dispute__order_id=order_id).in_bulk(),
        )
    return problems


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
    return problems + _timelines_problems(evidence)


class Command(BaseCommand):
    help = "Verify an evidence file: recompute each posting's and event's hash, compare them with Kabao's records."

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
        events = len(evidence["order"]["events"]) + sum(len(d["events"]) for d in evidence["disputes"])
        self.stdout.write(
            f"evidence intact: {count} postings and {events} timeline events match their hashes and "
            "Kabao's records"
        )
