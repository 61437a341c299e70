"""Backup and restore as docs/operations.md tells it: `bin/backup` (pg_dump, custom format) of a
database holding a real ledger and orders' timelines, `pg_restore` into a fresh database,
`verify_history` (the ledger and every timeline) there as its own process: accepted, with the same
postings and the same chain head; the append-only guards came back. Then the copy is dropped."""

import os
import subprocess
import sys

import pytest
from django.db import connection

from escrow.models import Posting
from marketplace.models import OrderEvent
from marketplace.services.orders import order_confirm, order_create
from tests.factories import MerchantFactory, ProductFactory, UserFactory, stock
from tests.operations.conftest import ROOT


def _server_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


def _psql(url: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", "--no-psqlrc", "-At", url, "-c", sql], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _contents(url: str) -> dict[str, str]:
    """Every table of the database: its row count and a digest of all its rows."""
    tables = _psql(
        url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).split()
    return {
        table: _psql(
            url,
            f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t",
        )
        for table in tables
    }


@pytest.fixture
def ledger(transactional_db, pay):
    """Committed postings of every kind a sale makes: deposit, capture into a hold, release, fee."""
    merchant = MerchantFactory()
    product = ProductFactory(merchant=merchant, price=3000)
    stock(product, 3)
    buyer = UserFactory()
    for _ in range(3):
        order_confirm(order=pay(order_create(buyer=buyer, product_id=product.pk, quantity=1)), actor=buyer)
    return Posting.objects.order_by("-id").first()


@pytest.fixture
def fresh_database():
    name = f"{connection.settings_dict['NAME']}_restored"
    server = _server_url()
    _psql(f"{server}/postgres", f'DROP DATABASE IF EXISTS "{name}"')
    _psql(f"{server}/postgres", f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        _psql(f"{server}/postgres", f'DROP DATABASE IF EXISTS "{name}"')


def test_a_backup_restores_into_a_fresh_database_that_verify_history_accepts(
    ledger, fresh_database, tmp_path
):
    postings = Posting.objects.count()
    dump = tmp_path / "kabao.dump"
    env = {**os.environ, "DATABASE_URL": f"{_server_url()}/{connection.settings_dict['NAME']}"}

    backup = subprocess.run(
        ["bin/backup", str(dump)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--dbname={fresh_database}",
            str(dump),
        ],
        check=True,
        capture_output=True,
    )
    verify = subprocess.run(
        [sys.executable, "manage.py", "verify_history"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": fresh_database},
        capture_output=True,
        text=True,
    )

    assert backup.stdout.startswith(f"backup written: {dump} (")
    # Not only the ledger: every table came back whole (the codes' ciphertexts, the timelines, …).
    source, restored = _contents(env["DATABASE_URL"]), _contents(fresh_database)
    assert restored == source
    assert source["marketplace_code"].startswith("3:")
    assert verify.returncode == 0, verify.stderr
    events = OrderEvent.objects.count()
    assert (
        verify.stdout.splitlines()[-1]
        == f"history ok: {postings} postings, {events} order events, 0 dispute events"
    )
    assert events == 3 * 4  # per sale: created, paid, delivered, completed
    assert postings == 1 + 3 * 2  # the shop's deposit; per sale: capture into the hold, release (with fee)
    restored_head = _psql(fresh_database, "SELECT id, hash FROM escrow_posting ORDER BY id DESC LIMIT 1")
    assert restored_head == f"{ledger.pk}|{ledger.hash}"
    # The append-only guard came back with the data: the restored ledger cannot be edited either.
    edit = subprocess.run(
        ["psql", "--no-psqlrc", "-At", fresh_database, "-c", "UPDATE escrow_entry SET amount = amount + 1"],
        capture_output=True,
        text=True,
    )
    assert edit.returncode != 0 and "append-only" in edit.stderr, edit.stderr
    edit = subprocess.run(
        ["psql", "--no-psqlrc", "-At", fresh_database, "-c", "DELETE FROM marketplace_orderevent"],
        capture_output=True,
        text=True,
    )
    assert edit.returncode != 0 and "append-only" in edit.stderr, edit.stderr
