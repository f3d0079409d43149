"""Benchmark of the pure-Python TOON codec against orjson (a C JSON codec) as a yardstick.

Two documents: a 500-row uniform table (TOON's tabular form) and a nested, non-uniform
document (objects in lists, nested objects, keyed tables, inline arrays). For each, CPU time
(``time.process_time``) per ``encode``/``decode`` call and per ``orjson.dumps``/``loads``
call, the median of several repetitions, and the ratio TOON / orjson. Output sizes (characters
and estimated tokens) are printed too. Every round trip is checked before timing.

Run:  .venv/bin/python loadtests/bench_toon.py [--repeat N] [--min-time SECONDS] [--rows N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # NOTE: run as a script, the repo root must be importable
    sys.path.insert(0, str(ROOT))

from armature_ext.toon import decode, encode, size_report  # noqa: E402

__all__ = ["make_nested", "make_table", "main", "measure"]

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]


def make_table(rows: int) -> dict[str, Any]:
    """A uniform table of ``rows`` records (ints, floats, bools, short and spaced strings)."""
    rng = random.Random(42)
    return {
        "users": [
            {
                "id": i,
                "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()}",
                "email": f"user{i}@example.org",
                "active": rng.random() > 0.3,
                "score": round(rng.random() * 100, 3),
                "role": rng.choice(["admin", "user", "guest"]),
            }
            for i in range(rows)
        ]
    }


def make_nested(items: int = 60) -> dict[str, Any]:
    """A non-uniform API-style document: list-form objects, nesting, keyed and inline arrays."""
    rng = random.Random(7)
    orders = []
    for i in range(items):
        order: dict[str, Any] = {
            "id": f"ord-{i:04d}",
            "customer": {"name": rng.choice(WORDS).title(), "tier": rng.choice(["a", "b"])},
            "tags": rng.sample(WORDS, 3),
            "lines": [
                {"sku": f"SKU-{rng.randrange(1000)}", "qty": rng.randint(1, 5), "price": 9.99}
                for _ in range(rng.randint(1, 4))
            ],
            "note": "ship: asap, fragile" if i % 3 == 0 else None,
        }
        if i % 4 == 0:
            order["gift"] = {"wrap": True, "message": "Happy birthday!"}
        orders.append(order)
    return {
        "meta": {"version": 3, "generated": "2025-01-02T03:04:05Z", "flags": ["a", "b"]},
        "warehouses": {
            name: {"city": name.title(), "capacity": rng.randrange(10_000)} for name in WORDS
        },
        "orders": orders,
    }


def measure(fn: Callable[[], Any], repeat: int, min_time: float) -> float:
    """Median CPU microseconds per call over ``repeat`` runs of at least ``min_time`` each."""
    fn()  # warm up
    loops = 1
    while True:
        start = time.process_time()
        for _ in range(loops):
            fn()
        elapsed = time.process_time() - start
        if elapsed >= min_time:
            break
        loops *= 2
    samples = [elapsed / loops]
    for _ in range(repeat - 1):
        start = time.process_time()
        for _ in range(loops):
            fn()
        samples.append((time.process_time() - start) / loops)
    return statistics.median(samples) * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (median reported)")
    parser.add_argument("--min-time", type=float, default=0.2, help="CPU seconds per repetition")
    parser.add_argument("--rows", type=int, default=500, help="rows in the table document")
    args = parser.parse_args(argv)

    docs = {f"table ({args.rows} rows)": make_table(args.rows), "nested document": make_nested()}
    header = f"{'document':<22} {'operation':<8} {'TOON µs':>10} {'orjson µs':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, doc in docs.items():
        text = encode(doc)
        raw = orjson.dumps(doc)
        if decode(text) != doc or orjson.loads(raw) != doc:
            print(f"round trip failed for {name}", file=sys.stderr)
            return 1
        pairs = {
            "encode": (lambda d=doc: encode(d), lambda d=doc: orjson.dumps(d)),
            "decode": (lambda t=text: decode(t), lambda r=raw: orjson.loads(r)),
        }
        for op, (toon_fn, json_fn) in pairs.items():
            toon_us = measure(toon_fn, args.repeat, args.min_time)
            json_us = measure(json_fn, args.repeat, args.min_time)
            print(
                f"{name:<22} {op:<8} {toon_us:>10.1f} {json_us:>10.1f} {toon_us / json_us:>6.1f}x"
            )
    print()
    print(
        f"{'document':<22} {'JSON chars':>10} {'TOON chars':>10} {'JSON tok~':>9} {'TOON tok~':>9}"
    )
    for name, doc in docs.items():
        r = size_report(doc)
        print(
            f"{name:<22} {r.json_chars:>10} {r.toon_chars:>10} {r.json_tokens:>9} "
            f"{r.toon_tokens:>9}"
        )
    print("(tok~ = estimate_tokens() heuristic, not a real tokenizer)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
