"""PostgreSQL enforces the ledger's invariants itself, whatever code writes to it:
entries and postings are append-only, and each posting balances per currency at commit.
SQLite (the embedded run) relies on escrow.services.posting_create alone."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION escrow_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER escrow_entry_append_only BEFORE UPDATE OR DELETE ON escrow_entry
    FOR EACH ROW EXECUTE FUNCTION escrow_refuse_change();
CREATE TRIGGER escrow_posting_append_only BEFORE UPDATE OR DELETE ON escrow_posting
    FOR EACH ROW EXECUTE FUNCTION escrow_refuse_change();

CREATE FUNCTION escrow_assert_posting_balanced(target bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bad_currency text;
BEGIN
    SELECT currency INTO bad_currency FROM escrow_entry WHERE posting_id = target
        GROUP BY currency HAVING SUM(amount) <> 0 LIMIT 1;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'posting % does not balance in %', target, bad_currency
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (SELECT COUNT(*) FROM escrow_entry WHERE posting_id = target) < 2 THEN
        RAISE EXCEPTION 'posting % has fewer than two entries', target
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
END $$;

CREATE FUNCTION escrow_entry_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM escrow_assert_posting_balanced(NEW.posting_id);
    RETURN NULL;
END $$;

CREATE FUNCTION escrow_posting_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM escrow_assert_posting_balanced(NEW.id);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER escrow_entry_balanced AFTER INSERT ON escrow_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION escrow_entry_check_balanced();
CREATE CONSTRAINT TRIGGER escrow_posting_has_entries AFTER INSERT ON escrow_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION escrow_posting_check_balanced();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS escrow_posting_has_entries ON escrow_posting;
DROP TRIGGER IF EXISTS escrow_entry_balanced ON escrow_entry;
DROP FUNCTION IF EXISTS escrow_posting_check_balanced();
DROP FUNCTION IF EXISTS escrow_entry_check_balanced();
DROP FUNCTION IF EXISTS escrow_assert_posting_balanced(bigint);
DROP TRIGGER IF EXISTS escrow_posting_append_only ON escrow_posting;
DROP TRIGGER IF EXISTS escrow_entry_append_only ON escrow_entry;
DROP FUNCTION IF EXISTS escrow_refuse_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("escrow", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
