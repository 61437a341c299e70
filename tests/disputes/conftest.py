import pytest

from marketplace.services.orders import order_create
from tests.factories import stock


@pytest.fixture
def delivered_order(buyer, stocked_product, pay):
    return pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))


@pytest.fixture
def open_dispute(delivered_order, buyer, django_capture_on_commit_callbacks):
    from disputes.services.lifecycle import dispute_open

    with django_capture_on_commit_callbacks(execute=True):
        return dispute_open(
            order_id=delivered_order.pk, buyer=buyer, reason="invalid_code", message="Already used"
        )


@pytest.fixture
def extra_stock(stocked_product):
    return stock(stocked_product, 5)
