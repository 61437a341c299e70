"""For migrations: SQL that only PostgreSQL runs (triggers the embedded SQLite run does without)."""

from collections.abc import Callable
from typing import Any

from django.db import migrations


def _run(sql: str) -> Callable[[Any, Any], None]:
    def apply(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return apply


def postgresql_only(forward: str, backward: str) -> migrations.RunPython:
    return migrations.RunPython(_run(forward), _run(backward))
