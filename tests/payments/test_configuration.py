"""The app refuses to start with Stripe and no keys, or with the simulated gateway in production."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "s",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kabao_stripe",
    "KABAO_CODE_KEYS": "dGVzdC1rZXktbmV3ZXN0LTAwMDAwMDAwMDAwMDAwMDA=",
    "KABAO_CODE_HASH_KEY": "h",
}


def start(**variables: str) -> subprocess.CompletedProcess:
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "KABAO_", "PAYMENT_", "DEBUG"))
    }
    env = {**keep, "DJANGO_SETTINGS_MODULE": "kabao.settings", **variables}
    code = "import django; django.setup(); from django.conf import settings; print(settings.PAYMENT_PROVIDER)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        (
            {"PAYMENT_PROVIDER": "stripe"},
            "PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET",
        ),
        (
            {"PAYMENT_PROVIDER": "stripe", **STRIPE_KEYS, "STRIPE_WEBHOOK_SECRET": ""},
            "PAYMENT_PROVIDER=stripe needs STRIPE_WEBHOOK_SECRET",
        ),
        (
            {"PAYMENT_PROVIDER": "simulated", "KABAO_SIMULATED_WEBHOOK_SECRET": "w"},
            "PAYMENT_PROVIDER=simulated is refused when DEBUG is off",
        ),
    ],
)
def test_a_production_start_is_refused(variables, refusal):
    result = start(**PRODUCTION, **variables)

    assert result.returncode == 1
    assert f"ImproperlyConfigured: {refusal}" in result.stderr


@pytest.mark.parametrize(
    ("variables", "provider"),
    [
        ({**PRODUCTION, "PAYMENT_PROVIDER": "stripe", **STRIPE_KEYS}, "stripe"),
        (
            {**PRODUCTION, "KABAO_ALLOW_SIMULATED_PAYMENTS": "1", "KABAO_SIMULATED_WEBHOOK_SECRET": "w"},
            "simulated",
        ),
        ({"DEBUG": "1"}, "simulated"),
    ],
)
def test_a_configured_start_runs(variables, provider):
    result = start(**variables)

    assert (result.returncode, result.stdout.strip()) == (0, provider), result.stderr
