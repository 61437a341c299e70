"""Thin Celery tasks: ids in, re-read under a lock in the service, return early when done."""

from celery import shared_task
from django.db import OperationalError

from marketplace.crypto import CodeDecryptionError
from marketplace.payments import ProviderUnavailable
from marketplace.services.orders import order_deliver
from marketplace.services.payments import simulated_webhook_deliver, webhook_process
from marketplace.services.sweeps import sweep_deadlines

TRANSIENT = (OperationalError, CodeDecryptionError)


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
    webhook_process(event_pk=event_pk)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=1, max_retries=5)
def deliver_simulated_webhook_task(body: str) -> None:
    simulated_webhook_deliver(body=body)


@shared_task
def sweep_deadlines_task() -> dict[str, int]:
    return sweep_deadlines()
