from django import template

register = template.Library()

SYMBOLS = {"CNY": "¥", "USD": "$", "HKD": "HK$", "EUR": "€"}


@register.filter
def money(amount: int | None, currency: str = "CNY") -> str:
    """1999, "CNY" -> "¥19.99": minor units shown without ever becoming a float."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(int(amount)), 100)
    symbol = SYMBOLS.get(currency, f"{currency} ")
    return f"{sign}{symbol}{major:,}.{minor:02d}"
