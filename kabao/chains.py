"""Hash chains over timelines: an order's events, a dispute's events.

Each row's hash covers its content and the hash of the row before it in the same timeline (the first
one links to GENESIS_HASH), so an edited row no longer matches its hash and a deleted one breaks the
link of the row after it. PostgreSQL refuses UPDATE and DELETE on these tables (the apps' migrations);
the chain is what still shows a change made behind the database's back. The ledger's own chain, one
for all postings, is escrow/hashing.py.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import connection, models, transaction

GENESIS_HASH = "0" * 64

# pg_advisory_xact_lock keys: (namespace << 48) + parent id, one lock per timeline. Far above the
# ledger's own key ("kabao" in ASCII, escrow/services.py) for any namespace >= 1.
_NAMESPACE_SHIFT = 48


E = TypeVar("E", bound=models.Model)


def link_hash(prev_hash: str, content: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"prev": prev_hash, **content}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_timelines(namespace: int, parent_ids: Iterable[int]) -> None:
    """Writers of one timeline take turns, so two of them never link to the same last row. In id
    order, so that two batches sharing timelines cannot deadlock. SQLite writes one at a time anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock((%s::bigint << %s) + id) FROM unnest(%s::bigint[]) AS id ORDER BY id",
            [namespace, _NAMESPACE_SHIFT, sorted(parent_ids)],
        )


def _heads(model: type[models.Model], parent: str, parent_ids: Iterable[int]) -> dict[int, str]:
    """The last hash of each timeline, read in one statement."""
    rows = (
        model._default_manager.filter(**{f"{parent}__in": list(parent_ids)})
        .order_by(parent, "-id")
        .distinct(parent)
        .values_list(parent, "hash")
        if connection.vendor == "postgresql"
        else _heads_portable(model, parent, parent_ids)
    )
    return dict(rows)


def _heads_portable(
    model: type[models.Model], parent: str, parent_ids: Iterable[int]
) -> list[tuple[int, str]]:
    last_ids = (
        model._default_manager.filter(**{f"{parent}__in": list(parent_ids)})
        .values(parent)
        .annotate(last=models.Max("id"))
        .values_list("last", flat=True)
    )
    return list(model._default_manager.filter(id__in=list(last_ids)).values_list(parent, "hash"))


def chain_append(events: Sequence[E], *, parent: str, namespace: int) -> list[E]:
    """Insert `events` (unsaved, each with its `at` set) at the end of their timelines, in the order
    given: each is linked to the one before it and hashed, then all are written in one statement.
    `parent` is the timeline's foreign key column ("order_id"); `namespace` tells the timelines of
    one table from those of another in the advisory locks."""
    if not events:
        return []
    model = type(events[0])
    parent_ids = {getattr(event, parent) for event in events}
    # savepoint=False: inside the caller's transaction this adds no SAVEPOINT round trips; alone,
    # it still opens one, which the advisory lock needs.
    with transaction.atomic(savepoint=False):
        _lock_timelines(namespace, parent_ids)
        heads = _heads(model, parent, parent_ids)
        for event in events:
            chained: Any = event  # a model with prev_hash, hash and chain_content()
            timeline = getattr(chained, parent)
            chained.prev_hash = heads.get(timeline, GENESIS_HASH)
            chained.hash = link_hash(chained.prev_hash, chained.chain_content())
            heads[timeline] = chained.hash
        return model._default_manager.bulk_create(events)


def chain_breaks(rows: Iterable[Any], *, parent: str, label: Callable[[int], str]) -> Iterator[str]:
    """Walk rows ordered by (timeline, id) and name, per timeline, the first row that does not
    match its hash or does not link to the row before it."""
    timeline: int | None = None
    expected_prev = GENESIS_HASH
    broken: int | None = None
    previous_id: int | None = None
    for row in rows:
        current = getattr(row, parent)
        if current != timeline:
            timeline, expected_prev, broken, previous_id = current, GENESIS_HASH, None, None
        if broken == timeline:
            continue
        where = label(current)
        if link_hash(row.prev_hash, row.chain_content()) != row.hash:
            broken = timeline
            yield f"{where}: event {row.pk} was altered (its content no longer matches its hash)"
        elif row.prev_hash != expected_prev:
            broken = timeline
            before = f"event {previous_id}" if previous_id is not None else "the timeline's start"
            yield (
                f"{where}: event {row.pk} does not link to {before} "
                "(an event between them was deleted, or the one before it rewritten)"
            )
        expected_prev, previous_id = row.hash, row.pk


def chain_backfill(
    model: type[models.Model], *, parent: str, content: Callable[[Any], dict[str, Any]]
) -> None:
    """For a migration: link and hash the rows a table already holds, timeline by timeline in id
    order. `content` is the migration's own frozen copy of the model's chain_content()."""
    heads: dict[int, str] = {}
    batch: list[Any] = []
    rows: Iterator[Any] = model._default_manager.order_by(parent, "id").iterator(chunk_size=2000)
    for row in rows:
        timeline = getattr(row, parent)
        row.prev_hash = heads.get(timeline, GENESIS_HASH)
        row.hash = link_hash(row.prev_hash, content(row))
        heads[timeline] = row.hash
        batch.append(row)
        if len(batch) == 2000:
            model._default_manager.bulk_update(batch, ["prev_hash", "hash"])
            batch = []
    model._default_manager.bulk_update(batch, ["prev_hash", "hash"])
