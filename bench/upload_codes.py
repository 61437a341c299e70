"""Benchmark: upload 100,000 codes through the HTTP API into PostgreSQL; print wall time and memory.

    .venv/bin/python bench/upload_codes.py [--codes 100000] [--database-url postgres://…/kabao_bench]
    .venv/bin/python bench/upload_codes.py --codes 1000,10000,100000   # growth: 1×, 10×, 100×
    .venv/bin/python bench/upload_codes.py --quick                      # 1,000 and 10,000 (a minute or two)

Not a test: it prints figures. It creates (or reuses) its own database, migrates it, makes a shop
that paid its deposit and a product through the services, then for each way of uploading (text/plain
body, multipart .txt file, JSON list) starts gunicorn (one sync worker, 127.0.0.1, a free port),
measures a floor on the same server (a tiny authenticated request: its time and the worker's memory
after it), uploads fresh codes, and reads the worker's peak resident memory (VmHWM) from /proc.
Then it uploads the same file again (every line refused as a duplicate). Every server it starts is
stopped before it exits, and every wait is bounded. Goals (issue 3): under 10 s and 300 MB.
"""

import argparse
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PATTERN = r"[A-Z0-9]{4}(-[A-Z0-9]{4}){3}"
START_TIMEOUT = 30
REQUEST_TIMEOUT = 120


def environment(database_url: str) -> dict[str, str]:
    """The production settings (DEBUG off: no query log growing in memory) with bench secrets."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "kabao.settings",
            "DEBUG": "0",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-only-secret-key",
            "KABAO_CODE_KEYS": "YmVuY2gtb25seS1rYWJhby1jb2RlLWtleS0zMi1ieXQ=",
            "KABAO_CODE_HASH_KEY": "bench-only-fingerprint-key",
            "KABAO_SIMULATED_WEBHOOK_SECRET": "bench-only-webhook-secret",
            # the shop pays its deposit through the simulated gateway, refused in production settings
            "KABAO_ALLOW_SIMULATED_PAYMENTS": "1",
            "LOG_LEVEL": "WARNING",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            # whitenoise warns that collectstatic never ran: the API serves no static files
            "PYTHONWARNINGS": "ignore:No directory at",
        }
    )
    env.pop("REDIS_URL", None)  # nothing here enqueues a task
    return env


def ensure_database(database_url: str) -> None:
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def prepare_shop() -> tuple[str, int]:
    """A shop that applied, was approved and paid its deposit, one product; returns (token, id)."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from accounts.services import api_token_create
    from marketplace.services.deposits import deposit_payment_start
    from marketplace.services.payments import payment_refresh, simulated_gateway_pay
    from marketplace.services.products import product_create
    from merchants.selectors import merchant_deposit_status
    from merchants.services import merchant_apply, merchant_approve

    run = uuid.uuid4().hex[:8]
    owner = User.objects.create_user(email=f"bench-{run}@kabao.local", password=secrets.token_hex(8))
    staff = User.objects.create_user(
        email=f"staff-{run}@kabao.local", password=secrets.token_hex(8), is_staff=True
    )
    merchant = merchant_approve(merchant=merchant_apply(owner=owner, shop_name=f"Bench {run}"), actor=staff)
    payment = deposit_payment_start(
        merchant=merchant, actor=owner, amount=merchant_deposit_status(merchant).shortfall or 1
    )
    simulated_gateway_pay(reference=payment.reference, outcome="succeeded", drop_webhook=True)
    payment_refresh(payment=payment)
    product = product_create(merchant=merchant, title=f"Bench card {run}", price=4800, code_pattern=PATTERN)
    _token, key = api_token_create(user=owner, name="bench")
    return key, product.pk


def fresh_codes(count: int) -> list[str]:
    return [
        "-".join("".join(secrets.choice(ALPHABET) for _ in range(4)) for _ in range(4)) for _ in range(count)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def children(pid: int) -> list[int]:
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


class Server:
    """gunicorn with one sync worker, started and always stopped by this script."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.process = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "kabao.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--timeout",
                str(REQUEST_TIMEOUT),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        self.worker = 0

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited while starting")
            workers = children(self.process.pid)
            if workers:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    self.worker = workers[0]
                    return self
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> tuple[int, bytes, float]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        started = time.perf_counter()
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        connection.close()
        return response.status, data, elapsed


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def run(env: dict[str, str], token: str, product_id: int, kind: str, count: int) -> dict:
    codes = fresh_codes(count)
    text = ("\n".join(codes) + "\n").encode()
    if kind == "text/plain":
        body, content_type = text, "text/plain; charset=utf-8"
    elif kind == "multipart file":
        body, content_type = multipart("codes.txt", text)
    else:
        body, content_type = json.dumps({"codes": codes}).encode(), "application/json"
    del codes
    auth = {"Authorization": f"Token {token}"}
    with Server(env) as server:
        floor_times = []
        for _ in range(20):
            status, _data, elapsed = server.request("GET", "/api/v1/merchant/balance/", headers=auth)
            assert status == 200, status
            floor_times.append(elapsed)
        floor_rss = status_kb(server.worker, "VmRSS")
        floor_hwm = status_kb(server.worker, "VmHWM")
        headers = {**auth, "Content-Type": content_type, "Content-Length": str(len(body))}
        status, data, elapsed = server.request(
            "POST", f"/api/v1/merchant/products/{product_id}/codes/", body, headers
        )
        report = json.loads(data)
        assert status == 201, (status, data[:500])
        assert report["accepted"] == count and not report["invalid"], {
            k: report[k] for k in ("accepted", "duplicates")
        }
        peak = status_kb(server.worker, "VmHWM")
        again = None
        if kind == "multipart file":  # the same file a second time: nothing is accepted
            status, data, again = server.request(
                "POST", f"/api/v1/merchant/products/{product_id}/codes/", body, headers
            )
            second = json.loads(data)
            assert status == 201 and second["accepted"] == 0 and len(second["invalid"]) == count, status
            peak = status_kb(server.worker, "VmHWM")
    return {
        "kind": kind,
        "bytes": len(body),
        "seconds": elapsed,
        "again_seconds": again,
        "floor_ms": statistics.median(floor_times) * 1000,
        "floor_mb": floor_hwm / 1024,
        "floor_rss_mb": floor_rss / 1024,
        "peak_mb": peak / 1024,
    }


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
    return f"{cpu}, {os.cpu_count()} cores, {memory_kb // 1024 // 1024} GiB RAM, Python {platform.python_version()}"


def upload_sizes(codes: str, quick: bool) -> list[int]:
    return [1_000, 10_000] if quick else [int(part) for part in codes.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", default="100000", help="codes per upload; a comma list for growth")
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 codes only")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kabao_bench"),
    )
    args = parser.parse_args()
    env = environment(args.database_url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    ensure_database(args.database_url)
    token, product_id = prepare_shop()
    print(f"machine: {machine()}")
    verdict = "met"
    growth = []
    for count in upload_sizes(args.codes, args.quick):
        print(f"\ndatabase: {args.database_url} · {count:,} codes per upload · gunicorn, 1 sync worker")
        print(
            f"{'upload':<16}{'body':>10}{'wall time':>11}{'floor req':>11}{'floor mem':>11}{'peak mem':>10}"
        )
        results = [
            run(env, token, product_id, kind, count) for kind in ("text/plain", "multipart file", "JSON list")
        ]
        for result in results:
            print(
                f"{result['kind']:<16}{result['bytes'] / 1e6:>8.1f}MB{result['seconds']:>10.2f}s"
                f"{result['floor_ms']:>9.1f}ms{result['floor_mb']:>9.0f}MB{result['peak_mb']:>8.0f}MB"
            )
        again = results[1]["again_seconds"]
        print(f"the same file again (every line a duplicate, nothing stored): {again:.2f}s")
        worst_time = max(result["seconds"] for result in results)
        worst_memory = max(result["peak_mb"] for result in results)
        floor_memory = min(result["floor_mb"] for result in results)
        growth.append((count, worst_time, worst_memory - floor_memory))
        if count == 100_000:
            verdict = "met" if worst_time < 10 and worst_memory < 300 else "MISSED"
            print(
                f"goal (< 10 s, < 300 MB): {verdict} — slowest {worst_time:.2f} s, highest peak {worst_memory:.0f} MB"
            )
    if len(growth) > 1:
        print("\ngrowth (slowest of the three uploads; memory above the floor of the same worker)")
        for count, seconds, memory in growth:
            print(
                f"  {count:>9,} codes  {seconds:6.2f} s  {seconds / count * 1e6:6.1f} µs per code  +{memory:.0f} MB"
            )
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
