"""The order timeline becomes append-only and hash-chained per order (kabao/chains.py): rows already
there are linked in id order, then PostgreSQL refuses UPDATE and DELETE on the table."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from kabao.chains import chain_backfill
from kabao.migration_sql import postgresql_only

FORWARD = """
CREATE FUNCTION kabao_history_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timeline rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER marketplace_orderevent_append_only BEFORE UPDATE OR DELETE ON marketplace_orderevent
    FOR EACH ROW EXECUTE FUNCTION kabao_history_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS marketplace_orderevent_append_only ON marketplace_orderevent;
DROP FUNCTION IF EXISTS kabao_history_refuse_change();
"""


def _content(event):  # frozen copy of OrderEvent.chain_content as of this migration
    return {
        "order": event.order_id,
        "event": event.event,
        "from": event.from_status,
        "to": event.to_status,
        "actor": event.actor_id,
        "note": event.note,
        "at": event.at.isoformat(timespec="microseconds"),
    }


def link_existing(apps, schema_editor):
    chain_backfill(apps.get_model("marketplace", "OrderEvent"), parent="order_id", content=_content)


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0004_chargeback"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="orderevent",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="orderevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="order",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="events", to="marketplace.order"
            ),
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(link_existing, migrations.RunPython.noop),
        postgresql_only(FORWARD, BACKWARD),
    ]
