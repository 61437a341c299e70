import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from marketplace.models import Order, Product
from marketplace.services.payments import simulated_gateway_pay
from tests.factories import MerchantFactory, ProductFactory, StaffFactory, UserFactory, owner_of, stock


@pytest.fixture
def buyer(db) -> User:
    return UserFactory()


@pytest.fixture
def staff(db) -> User:
    return StaffFactory()


@pytest.fixture
def merchant(db):
    return MerchantFactory()


@pytest.fixture
def merchant_owner(merchant) -> User:
    return owner_of(merchant)


@pytest.fixture
def product(merchant) -> Product:
    return ProductFactory(merchant=merchant)


@pytest.fixture
def stocked_product(product) -> Product:
    stock(product, 10)
    return product


def token_client(user: User) -> APIClient:
    _token, key = api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def buyer_api(buyer) -> APIClient:
    return token_client(buyer)


@pytest.fixture
def merchant_api(merchant_owner) -> APIClient:
    return token_client(merchant_owner)


@pytest.fixture
def staff_api(staff) -> APIClient:
    return token_client(staff)


@pytest.fixture
def pay(django_capture_on_commit_callbacks):
    """Pay an order at the simulated gateway and run what follows (webhook, capture, delivery)."""

    def _pay(order: Order, *, outcome: str = "succeeded", drop_webhook: bool = False) -> Order:
        with django_capture_on_commit_callbacks(execute=True):
            simulated_gateway_pay(
                reference=order.payment.reference, outcome=outcome, drop_webhook=drop_webhook
            )
        order.refresh_from_db()
        return order

    return _pay


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own, on a free port, killed at the end (tests/processes.py)."""
    from tests.processes import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def celery_processes(transactional_db, private_redis, tmp_path):
    """Workers and beats started by the test as real processes on `private_redis`; the test process
    publishes there too. Every process is killed at the end."""
    from tests.processes import Celery, publishing_to

    processes = Celery(broker_url=private_redis.url, logs=tmp_path)
    try:
        with publishing_to(private_redis.url):
            yield processes
    finally:
        processes.close()
