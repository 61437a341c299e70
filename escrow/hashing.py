"""The hash chain over postings: each posting's hash covers its content and the previous hash."""

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

GENESIS_HASH = "0" * 64


def posting_hash(
    *,
    prev_hash: str,
    idempotency_key: str,
    kind: str,
    reference: str,
    created_at: datetime,
    entries: Iterable[tuple[int, int, str]],
) -> str:
    """`entries` are (account_id, amount, currency); their order does not matter."""
    body = {
        "prev": prev_hash,
        "key": idempotency_key,
        "kind": kind,
        "reference": reference,
        "at": created_at.isoformat(timespec="microseconds"),
        "entries": sorted([account_id, amount, currency] for account_id, amount, currency in entries),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
