"""The benchmark harness still runs: ``python -m bench --quick`` on tiny inputs.

Not a timed test: it proves every scenario starts, drives Sluice and prints its table
(figures from tiny inputs mean nothing). The baselines of the ``bench`` dependency group
are left out when not installed; --quick skips the parts that start several processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUST_DOCS = Path("/root/.rustup/toolchains/nightly-x86_64-unknown-linux-gnu/share/doc/rust/html")


@pytest.mark.slow
def test_quick_benchmark_pass_runs_every_scenario():
    if not RUST_DOCS.is_dir():
        pytest.skip(f"no HTML docs at {RUST_DOCS} to build the corpus from")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # A session of its own: on a timeout the API processes the harness started go too.
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--quick"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        table, errors = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, errors[-3000:]
    for scenario in ("1 chunking", "4 queue overhead", "5 ingest to searchable", "6 vector search"):
        assert f"| {scenario}" in table, table
    assert "FAILED" not in table, table
    assert "sluice Chunker" in table and "sluice embedded" in table
