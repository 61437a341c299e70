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


@register.filter
def duration_words(seconds: int | None) -> str:
    """A response time for people: 95 -> "1 min", 7300 -> "2 h"."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
