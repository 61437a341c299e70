"""Real Chromium (Debian's /usr/bin/chromium, never a downloaded browser) against the live server.

Run on their own: `DJANGO_ALLOW_ASYNC_UNSAFE=true pytest tests/browser` (bin/test does), because
Playwright's sync API runs an event loop in the test thread, which Django's ORM otherwise refuses.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = os.environ.get("KABAO_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}
LOCALES = {"zh": "zh-CN", "en": "en-US"}
PASSWORD = "correct-horse-battery"


def pytest_collection_modifyitems(config, items) -> None:
    """In the main suite's run (no DJANGO_ALLOW_ASYNC_UNSAFE) the journeys cannot run: leave them
    to their own invocation, as bin/test does, and say so."""
    if os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE") == "true":
        return
    browser = [item for item in items if "tests/browser/" in item.nodeid]
    if browser:
        items[:] = [item for item in items if item not in browser]
        config.hook.pytest_deselected(items=browser)
        print(
            "\nBrowser journeys deselected: run them on their own with "
            "DJANGO_ALLOW_ASYNC_UNSAFE=true pytest tests/browser (bin/test does)."
        )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not Path(CHROMIUM).exists():
        pytest.exit(
            f"Chromium is not installed at {CHROMIUM}: sudo apt-get install -y chromium", returncode=2
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(params=sorted(LOCALES), ids=sorted(LOCALES))
def lang(request) -> str:
    return request.param


@pytest.fixture
def new_page(browser: Browser, live_server, lang) -> Iterator:
    """Pages of separate users (each its own cookies) in the test's language."""
    contexts: list[BrowserContext] = []

    def _new_page() -> Page:
        context = browser.new_context(
            locale=LOCALES[lang],
            timezone_id="Asia/Shanghai",
            viewport=DESKTOP,
            base_url=live_server.url,
            permissions=["clipboard-read", "clipboard-write"],
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        return page

    yield _new_page
    for context in contexts:
        for page in context.pages:
            assert not page.js_errors, page.js_errors
        context.close()


@pytest.fixture(scope="session", autouse=True)
def _screenshot_folder() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def shoot(lang):
    """Save the page at desktop and at 360 px phone width: test-artifacts/screenshots/<lang>-<name>-*.png."""

    def _shoot(page: Page, name: str) -> None:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            # A 360 px page must not scroll sideways.
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            page.screenshot(path=SCREENSHOTS / f"{lang}-{name}-{label}.png", full_page=True)
            assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {label} width"
        page.set_viewport_size(DESKTOP)

    return _shoot


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.locator("input[name=username], input[name=email]").first.fill(email)
    page.locator("input[type=password]").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
