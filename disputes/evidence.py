"""An order's evidence file: everything on the record about one order, in a form the buyer keeps.

The file holds the order's and its disputes' events (each with its `prev_hash` and `hash`: the
timelines are hash-chained, kabao/chains.py), the payment, and every ledger posting that concerns the
order (reference `order:<id>`, the payment's reference, `dispute:<id>`) with its entries, `prev_hash`
and `hash`. `manage.py verify_evidence <file>` recomputes every hash and compares the file with the
database, so an edited file, an edited ledger row or an edited timeline shows.
"""

from typing import Any

from django.db.models import Q

from disputes.models import Dispute
from escrow.models import Posting
from marketplace.models import Order

EVIDENCE_FORMAT = "kabao-evidence/1"


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


def order_posting_references(order: Order) -> list[str]:
    references = [order.hold_reference]
    payment = getattr(order, "payment", None)
    if payment is not None:
        references.append(payment.reference)
    references += [f"dispute:{pk}" for pk in Dispute.objects.filter(order=order).values_list("pk", flat=True)]
    return references


def posting_payload(posting: Posting) -> dict[str, Any]:
    return {
        "id": posting.pk,
        "idempotency_key": posting.idempotency_key,
        "kind": posting.kind,
        "reference": posting.reference,
        "memo": posting.memo,
        "created_at": _iso(posting.created_at),
        "entries": [
            {
                "account_id": entry.account_id,
                "account": entry.account.code,
                "amount": entry.amount,
                "currency": entry.currency,
            }
            for entry in sorted(posting.entries.all(), key=lambda entry: (entry.account_id, entry.amount))
        ],
        "prev_hash": posting.prev_hash,
        "hash": posting.hash,
    }


def order_evidence_file(order: Order) -> dict[str, Any]:
    """The JSON-ready evidence of one order (the caller checks who may see it)."""
    payment = getattr(order, "payment", None)
    disputes = Dispute.objects.filter(order=order).order_by("pk").prefetch_related("events")
    postings = (
        Posting.objects.filter(Q(reference__in=order_posting_references(order)))
        .prefetch_related("entries__account")
        .order_by("pk")
    )
    return {
        "format": EVIDENCE_FORMAT,
        "order": {
            "id": order.pk,
            "product": order.product.title,
            "shop": order.merchant.shop_name,
            "quantity": order.quantity,
            "unit_price": order.unit_price,
            "amount": order.amount,
            "currency": order.currency,
            "status": order.status,
            "created_at": _iso(order.created_at),
            "paid_at": _iso(order.paid_at),
            "delivered_at": _iso(order.delivered_at),
            "codes_revealed_at": _iso(order.codes_revealed_at),
            "completed_at": _iso(order.completed_at),
            "events": [
                {
                    "id": event.pk,
                    "event": event.event,
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "actor_id": event.actor_id,
                    "note": event.note,
                    "at": _iso(event.at),
                    "prev_hash": event.prev_hash,
                    "hash": event.hash,
                }
                for event in order.events.order_by("id")
            ],
        },
        "payment": None
        if payment is None
        else {
            "provider": payment.provider,
            "reference": payment.reference,
            "status": payment.status,
            "amount": payment.amount,
            "currency": payment.currency,
            "refunded_amount": payment.refunded_amount,
            "created_at": _iso(payment.created_at),
            "captured_at": _iso(payment.captured_at),
        },
        "disputes": [
            {
                "id": dispute.pk,
                "reason": dispute.reason,
                "status": dispute.status,
                "level": dispute.level,
                "resolution": dispute.resolution,
                "refunded_amount": dispute.refunded_amount,
                "compensation_amount": dispute.compensation_amount,
                "opened_at": _iso(dispute.opened_at),
                "resolved_at": _iso(dispute.resolved_at),
                "events": [
                    {
                        "id": event.pk,
                        "kind": event.kind,
                        "role": event.role,
                        "actor_id": event.actor_id,
                        "message": event.message,
                        "amount": event.amount,
                        "data": event.data,
                        "at": _iso(event.at),
                        "prev_hash": event.prev_hash,
                        "hash": event.hash,
                    }
                    for event in sorted(dispute.events.all(), key=lambda event: event.pk)
                ],
            }
            for dispute in disputes
        ],
        "postings": [posting_payload(posting) for posting in postings],
        "how_to_verify": "python manage.py verify_evidence <this file>: recomputes the SHA-256 hash of "
        "every posting and every timeline event from its content and prev_hash, checks that each "
        "event links to the one before it, and compares each with Kabao's records.",
    }
