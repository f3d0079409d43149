"""``loadtests/bench_compression.py`` keeps running and prints its table (figures not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "loadtests" / "bench_compression.py"


def test_benchmark_prints_a_row_per_coding_and_mode() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--iterations", "20", "--size", "4000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [
        line.split()
        for line in proc.stdout.splitlines()
        if line.split()[:1] in (["identity"], ["gzip"], ["br"], ["zstd"])
    ]
    assert [(r[0], r[2] + (" " + r[3] if r[2] == "10" else "")) for r in rows] == [
        (coding, mode)
        for mode in ("one-shot", "10 chunks")
        for coding in ("identity", "gzip", "br", "zstd")
    ]
    for row in rows:
        ratio = float(row[-1])
        assert ratio == 1.0 if row[0] == "identity" else ratio > 2.0, row
