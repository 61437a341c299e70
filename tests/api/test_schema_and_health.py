import json

import pytest
import yaml
from django.core.management import call_command

from kabao.celery import app as celery_app

pytestmark = pytest.mark.django_db

# API.md: the paths merchants automate against. The schema may hold more, never less.
CONTRACT = {
    "/api/v1/auth/register/": {"post"},
    "/api/v1/auth/token/": {"post"},
    "/api/v1/merchants/": {"post"},
    "/api/v1/admin/merchants/{merchant_id}/approve/": {"post"},
    "/api/v1/merchants/{merchant_id}/": {"get"},
    "/api/v1/merchant/balance/": {"get"},
    "/api/v1/merchant/products/": {"post"},
    "/api/v1/merchant/products/{product_id}/codes/": {"post"},
    "/api/v1/products/": {"get"},
    "/api/v1/products/{product_id}/": {"get"},
    "/api/v1/orders/": {"get", "post"},
    "/api/v1/orders/{order_id}/": {"get"},
    "/api/v1/orders/{order_id}/confirm/": {"post"},
    "/api/v1/payments/webhooks/simulated/": {"post"},
}


@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"
    return json.loads(response.content)


def json_body_properties(schema: dict, path: str, method: str = "post") -> tuple[set[str], set[str]]:
    """(properties, required) of the JSON request body of one operation."""
    reference = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]
    return set(component["properties"]), set(component.get("required", []))


def test_the_schema_is_served_as_openapi_yaml_to_anyone(api):
    response = api.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    document = yaml.safe_load(response.content)
    assert document["openapi"] == "3.0.3"
    assert document["info"] == {
        "title": "Kabao API",
        "version": "1.0.0",
        "description": "Escrow marketplace for game cards: the contract merchants automate against.",
    }


def test_the_schema_holds_every_call_of_the_contract(schema):
    for path, methods in CONTRACT.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), path


def test_the_schema_documents_token_authentication(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert {"tokenAuth": []} in schema["paths"]["/api/v1/orders/"]["post"]["security"]


def test_each_request_body_is_its_own_component(schema):
    """Three views named their input serializer `Input`: one component then stood for all three."""
    assert json_body_properties(schema, "/api/v1/orders/") == (
        {"product", "quantity"},
        {"product", "quantity"},
    )
    assert json_body_properties(schema, "/api/v1/merchants/") == (
        {"shop_name", "contact", "sells"},
        {"shop_name"},
    )
    assert json_body_properties(schema, "/api/v1/merchant/products/") == (
        {
            "title",
            "price",
            "currency",
            "game",
            "face_value",
            "region",
            "description",
            "code_pattern",
            "auto_confirm_seconds",
            "auto_replace_invalid",
        },
        {"title", "price"},
    )
    assert json_body_properties(schema, "/api/v1/auth/register/") == (
        {"email", "password"},
        {"email", "password"},
    )


def test_money_and_quantities_are_integers_in_the_schema(schema):
    components = schema["components"]["schemas"]
    assert components["ProductCreateInput"]["properties"]["price"] == {
        "type": "integer",
        "maximum": 1000000000000,
        "minimum": 1,
        "format": "int64",
    }
    assert components["OrderCreateInput"]["properties"]["quantity"] == {
        "type": "integer",
        "maximum": 1000,
        "minimum": 1,
    }
    assert components["OrderOutput"]["properties"]["amount"] == {"type": "integer"}


def test_the_schema_generates_without_a_warning_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert yaml.safe_load(target.read_text())["openapi"] == "3.0.3"


def test_the_docs_page_is_served(api):
    response = api.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert "swagger-ui" in page
    assert '"/api/schema/"' in page


def test_health_reports_database_and_broker(api):
    response = api.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_health_is_503_naming_the_broker_when_it_is_down(api, monkeypatch):
    # A port nothing listens on: the broker is really unreachable, nothing is faked.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")

    response = api.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "down"}
