"""The dispute timeline becomes append-only and hash-chained per dispute (kabao/chains.py): rows
already there are linked in id order, then PostgreSQL refuses UPDATE and DELETE on the table (with
the refusing function the order timeline's migration created)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from kabao.chains import chain_backfill
from kabao.migration_sql import postgresql_only

FORWARD = """
CREATE TRIGGER disputes_disputeevent_append_only BEFORE UPDATE OR DELETE ON disputes_disputeevent
    FOR EACH ROW EXECUTE FUNCTION kabao_history_refuse_change();
"""

BACKWARD = "DROP TRIGGER IF EXISTS disputes_disputeevent_append_only ON disputes_disputeevent;"


def _content(event):  # frozen copy of DisputeEvent.chain_content as of this migration
    return {
        "dispute": event.dispute_id,
        "kind": event.kind,
        "role": event.role,
        "actor": event.actor_id,
        "message": event.message,
        "amount": event.amount,
        "data": event.data,
        "at": event.at.isoformat(timespec="microseconds"),
    }


def link_existing(apps, schema_editor):
    chain_backfill(apps.get_model("disputes", "DisputeEvent"), parent="dispute_id", content=_content)


class Migration(migrations.Migration):
    dependencies = [
        ("disputes", "0001_initial"),
        ("marketplace", "0005_order_timeline_chain"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="disputeevent",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="disputeevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="disputeevent",
            name="dispute",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="events", to="disputes.dispute"
            ),
        ),
        migrations.AlterField(
            model_name="disputeevent",
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
