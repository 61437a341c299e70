"""First-response samples recorded for the disputes app, and their median."""

import pytest
from django.db import transaction

from kabao.errors import DomainError
from merchants.models import FirstResponseSample
from merchants.selectors import merchant_median_first_response_seconds
from merchants.services import merchant_record_first_response
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_a_sample_is_stored_for_its_shop(merchant):
    sample = merchant_record_first_response(merchant=merchant, seconds=3600)

    assert list(FirstResponseSample.objects.values_list("merchant_id", "seconds")) == [(merchant.pk, 3600)]
    assert sample.recorded_at is not None


@pytest.mark.parametrize(
    ("samples", "median"),
    [
        ([], None),
        ([600], 600),
        ([900, 60, 300], 300),
        ([60, 301, 900, 1200], 600),  # (301 + 900) // 2: whole seconds, rounded down
        ([0, 0, 86400], 0),
    ],
)
def test_the_median_of_a_shops_samples(merchant, samples, median):
    for seconds in samples:
        merchant_record_first_response(merchant=merchant, seconds=seconds)
    merchant_record_first_response(merchant=MerchantFactory(), seconds=10**6)  # another shop's

    assert merchant_median_first_response_seconds(merchant) == median


@pytest.mark.parametrize("seconds", [-1, 2**31, 1.5, True, "60"])
def test_a_sample_is_a_whole_non_negative_number_of_seconds(merchant, seconds):
    with pytest.raises(DomainError) as refused:
        merchant_record_first_response(merchant=merchant, seconds=seconds)

    assert refused.value.code == "invalid"
    assert not FirstResponseSample.objects.exists()


def test_a_sample_rolls_back_with_the_callers_transaction(merchant):
    with pytest.raises(RuntimeError), transaction.atomic():
        merchant_record_first_response(merchant=merchant, seconds=60)
        raise RuntimeError("the answer it measures failed")

    assert not FirstResponseSample.objects.exists()
