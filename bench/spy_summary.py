"""Summarize the py-spy samples a benchmark's `--profile DIR` wrote: where each worker's time went.

    .venv/bin/python bench/spy_summary.py DIR [--top 12]

For each process file (collapsed stacks, `py-spy record --format raw --idle`): the share of samples
idle (gunicorn or Celery waiting for work), waiting on PostgreSQL (psycopg sending or waiting for a
statement's answer), in Redis, waiting for the client to close the connection (gunicorn's sync
worker does so after every answer), or running Python; then the busy samples grouped by the outermost
functions of the code base on the stack (middleware frames skipped), each split the same way.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

APP_FRAME = re.compile(
    r"\((?:/work/main/)?(?:marketplace|accounts|escrow|merchants|disputes|kabao/(?!middleware))"
)
IDLE = (
    "SyncWorker.wait",
    "EpollSelector.select",
    "Connection._recv (billiard",
    "select (selectors",
    "_epoll.poll",
)
DATABASE = ("Connection.wait (psycopg", "_execute_send", "_exec_command")


def kind_of(frames: list[str]) -> str:
    leaf = frames[-1]
    if any(marker in leaf for marker in IDLE):
        return "idle"
    if any(marker in leaf for marker in DATABASE):
        return "postgres"
    if "close_graceful" in leaf:  # gunicorn waits for the client to close after each answer
        return "client"
    if "redis/" in leaf or "kombu/" in leaf:
        return "redis"
    return "python"


def summarize(path: Path, top: int) -> None:
    kinds: Counter[str] = Counter()
    groups: Counter[tuple[str, str]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        kind = kind_of(frames)
        kinds[kind] += int(samples)
        if kind == "idle":
            continue
        ours = [frame.split(" (")[0] for frame in frames if APP_FRAME.search(frame)]
        if ours:
            group = " > ".join(ours[:3])
        elif "gunicorn/util" in frames[-1]:
            group = "(gunicorn: writing the answer, closing the connection)"
        else:
            group = f"(framework: {frames[-1].split(' (')[0]})"
        groups[(group, kind)] += int(samples)
    total = sum(kinds.values())
    busy = total - kinds["idle"]
    shares = ", ".join(f"{kind} {count / total:.0%}" for kind, count in kinds.most_common())
    print(f"== {path.name}: {total} samples; {shares}")
    by_group: Counter[str] = Counter()
    for (group, _kind), count in groups.items():
        by_group[group] += count
    for group, count in by_group.most_common(top):
        split = ", ".join(
            f"{kind} {groups[(group, kind)]}"
            for kind in ("python", "postgres", "redis", "client")
            if groups[(group, kind)]
        )
        print(f"  {count / busy:6.1%} of busy  {group[:110]}  ({split})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for path in sorted(args.directory.rglob("*.txt")):
        summarize(path, args.top)


if __name__ == "__main__":
    main()
