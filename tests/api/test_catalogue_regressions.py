"""Catalogue queries that were 500s, each a request the schema fuzzing cannot be relied on to send
at its budget: a NUL in a query parameter (PostgreSQL cannot compare a string holding one) and a
word that is a regular expression's metacharacter (a regex lookup would hand it to PostgreSQL)."""

import pytest

from tests.api.helpers import assert_error, database_state
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
NUL_REFUSED = "Null characters are not allowed."
NOT_A_SLUG = 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("q=a%00b", {"q": [NUL_REFUSED]}),
        ("q=%00", {"q": [NUL_REFUSED]}),
        ("game=al%00pha", {"game": [NUL_REFUSED, NOT_A_SLUG]}),
        ("game=%00&q=gold", {"game": [NUL_REFUSED, NOT_A_SLUG]}),
    ],
)
def test_a_nul_in_a_query_parameter_is_refused_in_the_error_shape(api, merchant, query, fields):
    ProductFactory(merchant=merchant, title="Gold 100")
    before = database_state()

    response = api.get(f"{PRODUCTS}?{query}")

    assert_error(response, 400, "invalid", "The request is not valid.", fields)
    assert database_state() == before


@pytest.fixture
def titles_with_metacharacters(merchant) -> dict[str, int]:
    titles = ["Gold Pack (EU)", "Gems [x2]", "Coins *bonus*", r"Path C:\Games", "Pass v1.5", "Plain 100"]
    return {title: ProductFactory(merchant=merchant, title=title).pk for title in titles}


@pytest.mark.parametrize(
    ("word", "found"),
    [
        ("(", "Gold Pack (EU)"),
        ("[", "Gems [x2]"),
        ("*", "Coins *bonus*"),
        ("\\", r"Path C:\Games"),
        (".", "Pass v1.5"),  # a regex's "any character" would find all six
    ],
)
def test_a_regular_expression_metacharacter_is_searched_as_itself(
    api, titles_with_metacharacters, word, found
):
    response = api.get(PRODUCTS, {"q": word})

    assert response.status_code == 200
    assert [(product["id"], product["title"]) for product in response.json()] == [
        (titles_with_metacharacters[found], found)
    ]
