"""Deadlines are rows; beat sweeps them. One helper so every sweep takes its rows the same way."""

from collections.abc import Callable
from typing import TypeVar

from django.db import models, transaction

Row = TypeVar("Row", bound=models.Model)
BATCH = 200


def sweep_due(
    queryset: "models.QuerySet[Row]", act: Callable[[Row], None], *, order_by: str, batch: int = BATCH
) -> int:
    """Act once on every row of `queryset` (already filtered to what is due), in batches.

    Rows are taken with SELECT … FOR UPDATE SKIP LOCKED, each batch in its own transaction: two
    sweeps racing split the rows between them, and a row is acted on in the transaction that locked
    it. `act` re-checks nothing itself; the filter is evaluated under the lock.
    """
    done = 0
    while True:
        with transaction.atomic(durable=True):
            rows = list(queryset.select_for_update(skip_locked=True, of=("self",)).order_by(order_by)[:batch])
            for row in rows:
                act(row)
        done += len(rows)
        if len(rows) < batch:
            return done
