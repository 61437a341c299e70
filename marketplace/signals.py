"""Signals a higher app (disputes) listens to; marketplace never imports it (imports point downward).

Sent inside the transaction that records the change, so a receiver's writes commit or roll back
with it. Receivers get `order_id` (int or None), `chargeback_id` (int) and `status` (str).
"""

from django.dispatch import Signal

chargeback_opened = Signal()
chargeback_closed = Signal()
