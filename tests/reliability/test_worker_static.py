"""Two rules about Celery that a reading of the app code proves (AST, no import of the code):

- every `.delay(` / `.apply_async(` / `.send_task(` runs after commit: inside a lambda handed to
  `transaction.on_commit`, or inside a function the same module hands to `on_commit`;
- no countdown, ETA or retry delay is longer than half the Redis visibility timeout, or Redis
  would hand the waiting message to a second worker while the first still holds it.

Each scanner is first shown a snippet it must flag, so a scanner that finds nothing proves nothing.
"""

import ast
from pathlib import Path

from django.conf import settings

from kabao.celery import app

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "disputes", "escrow", "kabao", "marketplace", "merchants"]
ENQUEUE = {"delay", "apply_async", "send_task"}
# Celery's own defaults when a task does not say: retry_backoff_max 600 s, default_retry_delay 180 s.
CELERY_RETRY_BACKOFF_MAX = 600
CELERY_DEFAULT_RETRY_DELAY = 180


def _app_sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for app_name in APPS
        for path in sorted((ROOT / app_name).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _is_on_commit(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "on_commit") or (
        isinstance(func, ast.Name) and func.id == "on_commit"
    )


def _function_name(node: ast.expr) -> str | None:
    """`send` in on_commit(send) or on_commit(partial(send, …))."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and node.args and getattr(node.func, "id", None) == "partial":
        return _function_name(node.args[0])
    return None


def enqueues(source: str) -> tuple[list[int], list[int]]:
    """(lines that enqueue after commit, lines that enqueue outside on_commit)."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    committed_lambdas: set[ast.AST] = set()
    committed_functions: set[str] = set()
    for node in ast.walk(tree):
        if _is_on_commit(node):
            assert isinstance(node, ast.Call)
            for argument in node.args[:1]:
                if isinstance(argument, ast.Lambda):
                    committed_lambdas.add(argument)
                elif (name := _function_name(argument)) is not None:
                    committed_functions.add(name)
    inside: list[int] = []
    outside: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ENQUEUE:
            ancestor: ast.AST | None = node
            while ancestor is not None and not (
                ancestor in committed_lambdas
                or (isinstance(ancestor, ast.FunctionDef) and ancestor.name in committed_functions)
            ):
                ancestor = parents.get(ancestor)
            (inside if ancestor is not None else outside).append(node.lineno)
    return sorted(inside), sorted(outside)


def test_the_enqueue_scanner_tells_after_commit_from_at_once():
    source = """
def direct(order_id):
    deliver_order_task.delay(order_id)

def deferred(order_id):
    transaction.on_commit(lambda: deliver_order_task.delay(order_id), robust=True)

def named(order_id):
    def send():
        deliver_order_task.apply_async((order_id,))
    transaction.on_commit(send)

def later(order_id):
    return lambda: deliver_order_task.delay(order_id)
"""
    assert enqueues(source) == ([6, 10], [3, 14])


def test_every_task_is_enqueued_after_commit(capsys):
    found, outside = 0, []
    for path, source in _app_sources().items():
        inside, bad = enqueues(source)
        found += len(inside)
        outside += [f"{path}:{line}" for line in bad]
    assert outside == []
    assert found >= 6  # orders, payments (3), dispute emails, … : the scan reached them
    with capsys.disabled():
        print(f"\n  {found} places enqueue a task, every one through transaction.on_commit")


def _number(node: ast.expr | None) -> float | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    return None


def delays(source: str) -> tuple[list[tuple[int, str, float]], list[tuple[int, str]]]:
    """(every delay found: line, what, seconds), (delays that cannot be read statically: line, what)."""
    tree = ast.parse(source)
    found: list[tuple[int, str, float]] = []
    unreadable: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        keywords = {keyword.arg: keyword.value for keyword in node.keywords if keyword.arg}
        for name in ("countdown", "eta", "default_retry_delay", "retry_backoff_max"):
            if name in keywords:
                seconds = _number(keywords[name]) if name != "eta" else None
                if seconds is None:
                    unreadable.append((node.lineno, name))
                else:
                    found.append((node.lineno, name, seconds))
        if "autoretry_for" in keywords or "retry_backoff" in keywords:
            backoff = keywords.get("retry_backoff")
            if backoff is not None and not (isinstance(backoff, ast.Constant) and not backoff.value):
                if "retry_backoff_max" not in keywords:
                    found.append(
                        (node.lineno, "retry_backoff_max (Celery's default)", CELERY_RETRY_BACKOFF_MAX)
                    )
            elif "default_retry_delay" not in keywords:
                found.append(
                    (node.lineno, "default_retry_delay (Celery's default)", CELERY_DEFAULT_RETRY_DELAY)
                )
    return sorted(found), sorted(unreadable)


def test_the_delay_scanner_reads_every_kind_of_delay():
    source = """
@shared_task(autoretry_for=(E,), retry_backoff=2, retry_backoff_max=7200, max_retries=8)
def a(): pass

@shared_task(autoretry_for=(E,), retry_backoff=True)
def b(): pass

@shared_task(autoretry_for=(E,))
def c(): pass

@shared_task(bind=True, default_retry_delay=30)
def d(self):
    self.retry(countdown=4000)
    task.apply_async((1,), countdown=later)
    task.apply_async((1,), eta=tomorrow)
"""
    found, unreadable = delays(source)
    assert found == [
        (2, "retry_backoff_max", 7200.0),
        (5, "retry_backoff_max (Celery's default)", 600),
        (8, "default_retry_delay (Celery's default)", 180),
        (11, "default_retry_delay", 30.0),
        (13, "countdown", 4000.0),
    ]
    assert unreadable == [(14, "countdown"), (15, "eta")]


def test_no_countdown_or_retry_delay_is_longer_than_half_the_visibility_timeout(capsys):
    visibility_timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert visibility_timeout == settings.KABAO_BROKER_VISIBILITY_TIMEOUT_SECONDS == 3600
    assert app.conf.broker_transport_options["visibility_timeout"] == visibility_timeout
    found, unreadable, too_long = [], [], []
    for path, source in _app_sources().items():
        delays_here, unreadable_here = delays(source)
        found += [(path, line, what, seconds) for line, what, seconds in delays_here]
        unreadable += [f"{path}:{line} {what}" for line, what in unreadable_here]
    too_long = [item for item in found if item[3] > visibility_timeout / 2]
    assert unreadable == []
    assert too_long == []
    assert len(found) >= 5  # the retrying tasks of marketplace and disputes: the scan reached them
    longest = max(found, key=lambda item: item[3])
    with capsys.disabled():
        print(
            f"\n  {len(found)} delays in app code, the longest {longest[3]:.0f} s ({longest[0]}:{longest[1]} "
            f"{longest[2]}), under half the visibility timeout ({visibility_timeout / 2:.0f} s)"
        )
