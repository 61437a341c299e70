import pytest

pytest.register_assert_rewrite("tests.api.helpers")


@pytest.fixture(autouse=True)
def english(settings):
    """DRF's own messages follow the request's language, zh-hans by default; these tests read them
    in English (test_accounts_api checks the Chinese default once)."""
    settings.LANGUAGE_CODE = "en"
