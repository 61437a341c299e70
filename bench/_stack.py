"""The production stack for the HTTP benchmarks, started and always stopped by the benchmark.

gunicorn (sync workers) serving `kabao.wsgi:application`, one Celery worker (prefork) and one beat,
on the machine's PostgreSQL (a bench database of its own) and Redis (a database number of its own,
flushed at the start). Settings are production's (`kabao.settings`, DEBUG off, CONN_MAX_AGE 60 with
health checks, the settings' default whenever DATABASE_URL is set) with bench-only secrets, the
simulated provider, the floor endpoint (KABAO_BENCH_FLOOR=1) and the rate limits lifted: every
client comes from 127.0.0.1, and a benchmark of the limiter is not what is measured here.

Also here: a small asyncio HTTP/1.1 client (one connection per request: gunicorn's sync worker closes
every connection), closed-loop load with N concurrent clients, and a shop with stock and buyers.
"""

import argparse
import asyncio
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _history import history_load
from _setup import database_admin, database_copy, database_exists, database_names, database_use, django_for

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kabao_bench_http"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
START_TIMEOUT = 60
STOP_TIMEOUT = 20
REQUEST_TIMEOUT = 30
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

# The rate limits (per client address and per user) lifted; the login lock-out stays on (token-
# authenticated requests never log in).
LIMITS_LIFTED = {"KABAO_RATE_LIMITS_ENABLED": "0"}


def prepare(database_url: str, redis_url: str) -> None:
    """A fresh, migrated bench database, an empty Redis database, and this process's Django on them."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    os.environ.update(LIMITS_LIFTED)
    os.environ["KABAO_BENCH_FLOOR"] = "1"
    # whitenoise warns that collectstatic never ran: the API serves no static files
    os.environ["PYTHONWARNINGS"] = "ignore:No directory at"
    django_for(database_url, fresh=True, redis_url=redis_url)
    from kabao.celery import app

    # Only the floor task asks for its result; every task of the code base ignores its own.
    app.conf.update(result_backend=redis_url)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    load = os.getloadavg()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kb // 1024 // 1024} GiB RAM, Python "
        f"{platform.python_version()}, load average {load:.2f} at start"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Stack:
    """gunicorn + Celery worker + beat as child processes of this script, each in its own session so
    that stopping one also stops its children (gunicorn's and Celery's worker processes)."""

    def __init__(self, *, web_workers: int, celery_concurrency: int, redis_url: str):
        self.port = free_port()
        self.web_workers = web_workers
        self.celery_concurrency = celery_concurrency
        self.redis_url = redis_url
        self.beat_schedule = (
            Path(tempfile.gettempdir()) / f"kabao-bench-beat-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def describe(self) -> str:
        return (
            f"gunicorn {self.web_workers} sync workers · Celery worker prefork concurrency "
            f"{self.celery_concurrency} + beat · broker {self.redis_url}"
        )

    def _start(self, name: str, arguments: list[str]) -> None:
        env = dict(os.environ)
        # A what-if run: the servers on a settings module that changes one thing (on PYTHONPATH).
        env["DJANGO_SETTINGS_MODULE"] = env.get("BENCH_SETTINGS_MODULE") or env["DJANGO_SETTINGS_MODULE"]
        process = subprocess.Popen(  # noqa: S603 - our own venv's programs, fixed arguments
            arguments, cwd=ROOT, env=env, start_new_session=True
        )
        self.processes.append((name, process))

    def __enter__(self) -> "Stack":
        try:
            self._start(
                "gunicorn",
                [
                    str(VENV_BIN / "gunicorn"),
                    "kabao.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(self.web_workers),
                    "--worker-class",
                    "sync",
                    "--backlog",
                    "2048",
                    "--timeout",
                    str(REQUEST_TIMEOUT),
                    "--log-level",
                    "warning",
                ],
            )
            celery = [str(VENV_BIN / "celery"), "--result-backend", self.redis_url, "-A", "kabao"]
            self._start(
                "worker",
                [
                    *celery,
                    "worker",
                    "--pool",
                    "prefork",
                    "--concurrency",
                    str(self.celery_concurrency),
                    "--loglevel",
                    "WARNING",
                ],
            )
            self._start(
                "beat", [*celery, "beat", "--loglevel", "WARNING", "--schedule", str(self.beat_schedule)]
            )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited while starting (status {process.returncode})")
            try:
                status, _body, _seconds = asyncio.run(request(self.port, "GET", "/bench/floor"))
                if status == 200:
                    break
                raise RuntimeError(f"the floor endpoint answered {status}")
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start in time")
            time.sleep(0.2)
        task_round_trip(timeout=max(1.0, deadline - time.monotonic()))  # the worker consumes

    def web_worker_pids(self) -> list[int]:
        return _children(self.processes[0][1].pid)

    def celery_worker_pids(self) -> list[int]:
        return _children(self.processes[1][1].pid)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by the gunicorn workers and the Celery worker's
        processes: what a request or a task costs, whatever else runs on the machine."""
        tick = os.sysconf("SC_CLK_TCK")
        used = {}
        for kind, pids in (
            ("web", self.web_worker_pids()),
            ("celery", [self.processes[1][1].pid, *self.celery_worker_pids()]),
        ):
            total = 0
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                total += int(fields[11]) + int(fields[12])  # utime, stime
            used[kind] = total / tick
        return used

    def profile(self, seconds: float, directory: Path) -> list[subprocess.Popen]:
        """Sample every gunicorn and Celery worker process with py-spy for `seconds` (collapsed
        stacks in `directory`, one file per process, for flame graphs or grep); wait on the result."""
        directory.mkdir(parents=True, exist_ok=True)
        samplers = []
        for kind, pids in (
            ("web", self.web_worker_pids()),
            ("celery", [self.processes[1][1].pid, *self.celery_worker_pids()]),
        ):
            for pid in pids:
                samplers.append(
                    subprocess.Popen(  # noqa: S603 - our own venv's py-spy, fixed arguments
                        [
                            str(VENV_BIN / "py-spy"),
                            "record",
                            "--pid",
                            str(pid),
                            "--duration",
                            str(int(seconds)),
                            "--format",
                            "raw",
                            "--idle",
                            "--output",
                            str(directory / f"{kind}-{pid}.txt"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        return samplers

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:  # the main process stops its own children (warm shutdown)
                process.send_signal(signal.SIGTERM)
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.beat_schedule.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def task_round_trip(timeout: float = 10.0) -> float:
    """Milliseconds for a no-op task (Celery's built-in `celery.accumulate`) to go through Redis to
    the worker and its result back through Redis to this process."""
    from kabao.celery import app

    started = time.perf_counter()
    result = app.send_task("celery.accumulate", args=(1,), ignore_result=False)
    result.get(timeout=timeout)
    elapsed = (time.perf_counter() - started) * 1000
    result.forget()
    return elapsed


# --- the client ----------------------------------------------------------------------------------


async def request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes, float]:
    """One HTTP/1.1 request on its own connection: (status, body, seconds from connect to last byte).

    The connection is closed as soon as the body is in: gunicorn's sync worker, after answering,
    waits for the client to close (RFC 9112 9.6) before it takes the next request."""
    started = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT)
    try:
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(
            (int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")),
            None,
        )
        if length is None:
            content = await asyncio.wait_for(reader.read(-1), REQUEST_TIMEOUT)
        else:
            content = await asyncio.wait_for(reader.readexactly(length), REQUEST_TIMEOUT)
    finally:
        writer.close()
    return status, content, time.perf_counter() - started


@dataclass
class Load:
    """What N closed-loop clients did: every job's parts' latencies (seconds) and the wall time."""

    jobs: int = 0
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def add(self, part: str, seconds: float) -> None:
        self.latencies.setdefault(part, []).append(seconds)

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


async def closed_loop(clients: int, seconds: float, job: Callable[[int, int, Load], Awaitable[None]]) -> Load:
    """`clients` concurrent clients, each running `job(client, iteration, load)` back to back for
    `seconds`; the wall time runs until the last job started in time has finished."""
    load = Load()
    started = time.perf_counter()
    stop_at = started + seconds

    async def client(number: int) -> None:
        iteration = 0
        while time.perf_counter() < stop_at:
            await job(number, iteration, load)
            load.jobs += 1
            iteration += 1

    await asyncio.gather(*(client(number) for number in range(clients)))
    load.seconds = time.perf_counter() - started
    return load


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def p50_p99_ms(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1000, percentile(samples, 0.99) * 1000


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """median (min – max) of repeated runs."""
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))} – {fmt.format(max(values))})"


# --- data ------------------------------------------------------------------------------------


@dataclass
class Shop:
    product_id: int
    price: int
    currency: str
    buyer_tokens: list[str]
    buyer_ids: list[int]


def shop_with_buyers(*, buyers: int) -> Shop:
    """A shop that applied, was approved and paid its deposit (through the services and the simulated
    gateway), one product, and `buyers` buyers with an API token each."""
    from accounts.models import User
    from marketplace.services.deposits import deposit_payment_start
    from marketplace.services.payments import payment_refresh, simulated_gateway_pay
    from marketplace.services.products import product_create
    from merchants.selectors import merchant_deposit_status
    from merchants.services import merchant_apply, merchant_approve

    run = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"shop-{run}@kabao.local", password=secrets.token_hex(8))
    staff = User.objects.create_user(
        email=f"staff-{run}@kabao.local", password=secrets.token_hex(8), is_staff=True
    )
    merchant = merchant_approve(merchant=merchant_apply(owner=owner, shop_name=f"Bench {run}"), actor=staff)
    payment = deposit_payment_start(
        merchant=merchant, actor=owner, amount=merchant_deposit_status(merchant).shortfall or 1
    )
    simulated_gateway_pay(reference=payment.reference, outcome="succeeded", drop_webhook=True)
    payment_refresh(payment=payment)
    product_create(merchant=merchant, title=f"Bench card {run}", price=4800)
    for number in range(buyers):
        # No password: a buyer of the bench only ever uses its token (and hashing is slow).
        User.objects.create_user(email=f"buyer-{run}-{number}@kabao.local", password=None)
    return shop_found()


def shop_found() -> Shop:
    """The shop `shop_with_buyers` made in this database (its one product), with a new API token for
    each of its buyers: a copy of a kept database knows no token of the run that made it."""
    from accounts.models import User
    from accounts.services import api_token_create
    from marketplace.models import Product

    product = Product.objects.get(title__startswith="Bench card ")
    run = product.title.rsplit(" ", 1)[1]
    buyers = list(User.objects.filter(email__startswith=f"buyer-{run}-").order_by("id"))
    tokens = [api_token_create(user=buyer, name="bench")[1] for buyer in buyers]
    return Shop(
        product_id=product.pk,
        price=product.price,
        currency=product.currency,
        buyer_tokens=tokens,
        buyer_ids=[buyer.pk for buyer in buyers],
    )


def history_arguments(parser: argparse.ArgumentParser) -> None:
    """--history and --reuse, for `shop_prepared`."""
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="past orders of the shop in the tables first (bench/_history.py)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the shop with its history as a template, start from a copy"
    )


def shop_prepared(database_url: str, redis_url: str, *, buyers: int, history: int, reuse: bool) -> Shop:
    """`prepare` and `shop_with_buyers`, the shop with `history` past orders (bench/_history.py).

    With `reuse` the shop and its history are built once in a template database,
    `kabao_bench_http_tpl_b<buyers>_h<history>` (from a copy of the largest smaller one, history
    added), kept, and each run (of any of the HTTP benchmarks) starts from a copy of it."""
    prepare(database_url, redis_url)
    if not history:
        return shop_with_buyers(buyers=buyers)
    if not reuse:
        shop = shop_with_buyers(buyers=buyers)
        _history_built(shop, history, start=0)
        return shop
    name = database_url.rsplit("/", 1)[1]
    prefix = f"{DEFAULT_DATABASE_URL.rsplit('/', 1)[1]}_tpl_b{buyers}_h"
    template = f"{prefix}{history}"
    if database_exists(database_url, template):
        print(f"history: reusing {template}", flush=True)
    else:
        smaller = [
            int(found[len(prefix) :])
            for found in database_names(database_url, prefix + "%")
            if found[len(prefix) :].isdigit() and int(found[len(prefix) :]) < history
        ]
        database_use("postgres")
        if smaller:
            database_copy(database_url, f"{prefix}{max(smaller)}", template)
            database_use(template)
            _history_built(shop_found(), history - max(smaller), start=max(smaller))
        else:
            database_admin(database_url, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            database_admin(database_url, f'CREATE DATABASE "{template}"')
            database_use(template)
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            _history_built(shop_with_buyers(buyers=buyers), history, start=0)
    database_use("postgres")
    database_copy(database_url, template, name)
    database_use(name)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # a template kept from older code lacks the newer migrations
    return shop_found()


def _history_built(shop: Shop, orders: int, *, start: int) -> None:
    started = time.perf_counter()
    history_load(
        product_id=shop.product_id,
        buyer_ids=shop.buyer_ids,
        orders=orders,
        progress=lambda line: print(f"  history +{orders:,}: {line}", flush=True),
    )
    print(
        f"history: {start + orders:,} past orders of the shop ({orders:,} loaded in"
        f" {time.perf_counter() - started:.1f} s)",
        flush=True,
    )


def stock_at_least(product_id: int, count: int) -> None:
    """Top the product's available codes up to `count` (uploaded through the service, one COPY)."""
    from marketplace.models import Code, CodeStatus, Product
    from marketplace.services.inventory import codes_upload

    product = Product.objects.select_related("merchant").get(pk=product_id)
    missing = count - Code.objects.filter(product=product, status=CodeStatus.AVAILABLE).count()
    if missing > 0:
        codes = ("".join(secrets.choice(ALPHABET) for _ in range(16)) for _ in range(missing))
        report = codes_upload(product=product, lines=codes)
        assert report.accepted == missing, (report.accepted, missing)
