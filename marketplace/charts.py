"""A bar chart of daily sales, drawn on the server as inline SVG: no script, no outside library.

Heights are integer arithmetic on minor units; the amounts never become floats.
"""

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from marketplace.merchant_selectors import SalesDay
from merchants.money import money_text

WIDTH = 600
HEIGHT = 184
PLOT_TOP = 24
PLOT_BOTTOM = 150  # baseline; the day labels go under it


def sales_chart_svg(days: list[SalesDay], currency: str) -> SafeString:
    total = sum(day.amount for day in days)
    orders = sum(day.orders for day in days)
    peak = max((day.amount for day in days), default=0)
    slot = WIDTH // max(len(days), 1)
    plot_height = PLOT_BOTTOM - PLOT_TOP
    bars = []
    for index, day in enumerate(days):
        if not day.amount:
            continue
        height = max(day.amount * plot_height // peak, 1)  # a sale is never invisible
        label = _("%(day)s: %(amount)s in %(orders)d orders") % {
            "day": date_format(day.day, "Y-m-d"),
            "amount": money_text(day.amount, currency),
            "orders": day.orders,
        }
        bars.append((index * slot + 2, PLOT_BOTTOM - height, max(slot - 4, 1), height, label))
    title = _("Sales of the last %(days)d days") % {"days": len(days)}
    summary = _("%(total)s in %(orders)d orders; best day %(peak)s") % {
        "total": money_text(total, currency),
        "orders": orders,
        "peak": money_text(peak, currency),
    }
    first = date_format(days[0].day, "m-d") if days else ""
    last = date_format(days[-1].day, "m-d") if days else ""
    return format_html(
        '<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="chart-title">{title}</title><desc id="chart-desc">{summary}</desc>'
        '<line x1="0" y1="{bottom}" x2="{width}" y2="{bottom}" class="axis"/>'
        "{bars}"
        '<text x="0" y="{label_y}" class="tick">{first}</text>'
        '<text x="{width}" y="{label_y}" class="tick" text-anchor="end">{last}</text>'
        '<text x="0" y="16" class="tick">{peak_label}</text>'
        "</svg>",
        width=WIDTH,
        height=HEIGHT,
        title=title,
        summary=summary,
        bottom=PLOT_BOTTOM,
        bars=format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" class="bar"><title>{}</title></rect>',
            bars,
        ),
        label_y=PLOT_BOTTOM + 20,
        first=first,
        last=last,
        peak_label=money_text(peak, currency),
    )
