"""Thin Celery tasks: ids in, re-read under a lock in the service, return early when done."""

import logging

from celery import shared_task
from django.db import OperationalError

from marketplace.crypto import CodeDecryptionError
from marketplace.payments import ProviderUnavailable
from marketplace.services.orders import order_deliver
from marketplace.services.payments import simulated_webhook_deliver, webhook_process
from marketplace.services.sweeps import sweep_deadlines

TRANSIENT = (OperationalError, CodeDecryptionError)
logger = logging.getLogger(__name__)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=60, max_retries=8)
def deliver_order_task(order_id: int) -> None:
    order_deliver(order_id=order_id)


# A provider that does not answer (an out-of-order event asks it first) is transient too.
@shared_task(
    autoretry_for=(OperationalError, ProviderUnavailable),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
)
def process_webhook_event_task(event_pk: int) -> None:
    order_id = webhook_process(event_pk=event_pk)
    if order_id is not None:
        # Deliver now, in this task and on its database connection, rather than after the delivery
        # task has waited its turn in the queue (bench/payment_to_code.py: one task hop less between
        # the payment and the buyer's codes). The delivery task the capture enqueued still runs: it
        # finds the order delivered and returns, or delivers and retries if this attempt failed.
        try:
            order_deliver(order_id=order_id)
        except TRANSIENT:
            logger.warning("order %s: delivery left to its delivery task", order_id, exc_info=True)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=1, max_retries=5)
def deliver_simulated_webhook_task(body: str) -> None:
    simulated_webhook_deliver(body=body)


@shared_task
def sweep_deadlines_task() -> dict[str, int]:
    return sweep_deadlines()
