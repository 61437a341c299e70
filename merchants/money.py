"""Money as text for emails and messages: minor units shown without ever becoming a float."""

SYMBOLS = {"CNY": "¥", "USD": "$", "HKD": "HK$", "EUR": "€"}


def money_text(amount: int, currency: str) -> str:
    """1999, "CNY" -> "¥19.99" (the same rendering as the `money` template filter)."""
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(int(amount)), 100)
    return f"{sign}{SYMBOLS.get(currency, f'{currency} ')}{major:,}.{minor:02d}"
