"""GET /healthz names each part that is down, with 503, and says nothing else (no URL, no password)."""

import pytest
from django.db import connection

from kabao.celery import app as celery_app
from tests.operations.conftest import closed_port


@pytest.fixture
def database_unreachable(transactional_db):
    """The default connection points at a port nothing listens on; restored (and reconnected on
    next use) afterwards. A test transaction could not survive this, hence transactional_db."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    connection.settings_dict["PASSWORD"] = "s3cret-db-password"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def test_health_is_200_when_database_and_broker_answer(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_health_is_503_naming_the_database_when_it_is_unreachable(client, database_unreachable, log_lines):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"database": "down", "broker": "ok"}
    warnings = [line["message"] for line in log_lines() if line["logger"] == "kabao.health"]
    assert warnings == ["healthz: database unreachable (OperationalError)"]
    assert "s3cret-db-password" not in response.content.decode() + str(log_lines())


def test_health_is_503_naming_the_broker_when_it_is_unreachable(client, db, monkeypatch, log_lines):
    broker_url = f"redis://:s3cret-broker-password@127.0.0.1:{closed_port()}/0"
    monkeypatch.setattr(celery_app.conf, "broker_url", broker_url)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "down"}
    warnings = [line["message"] for line in log_lines() if line["logger"] == "kabao.health"]
    assert warnings == ["healthz: broker unreachable (OperationalError)"]
    assert "s3cret-broker-password" not in response.content.decode() + str(log_lines())
