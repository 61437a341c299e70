"""Measurements other apps record about a shop, for its public trust figures."""

from django.db import transaction

from kabao.errors import DomainError
from merchants.models import FirstResponseSample, Merchant

MAX_SECONDS = 2**31 - 1


def merchant_record_first_response(*, merchant: Merchant, seconds: int) -> FirstResponseSample:
    """Record how many seconds the shop took to answer a new dispute for the first time.

    Called by the disputes app when the first answer is written. It joins the caller's transaction
    when there is one (the sample commits or rolls back with the answer it measures), so it is not
    `durable`.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= MAX_SECONDS:
        raise DomainError("invalid", "A first response takes a whole, non-negative number of seconds.")
    with transaction.atomic():
        return FirstResponseSample.objects.create(merchant=merchant, seconds=seconds)
