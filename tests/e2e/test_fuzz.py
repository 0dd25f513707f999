"""Schemathesis against a running server: every operation of /schema/openapi.json with
generated valid and invalid inputs. No 5xx; every status, content type, header and body
matches the schema; invalid input is refused.

(schemathesis's pytest plugin does not run on pytest 9, so its CLI runs here.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from server import Server

pytestmark = pytest.mark.slow

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
LAUNCHER = Path(__file__).with_name("st_launcher.py")
EXAMPLES = os.environ.get("SLUICE_FUZZ_EXAMPLES", "15")


def schemathesis(url: str, *headers: str) -> subprocess.CompletedProcess[str]:
    # The stateful phase (chains of calls) takes minutes; `st run` it by hand before a release.
    cmd = [sys.executable, str(LAUNCHER), "run", f"{url}/schema/openapi.json",
           "--checks", CHECKS, "--max-examples", EXAMPLES,
           "--phases", "coverage,fuzzing", "--workers", "2", "--seed", "20261129", "--no-color"]  # fmt: skip
    for header in headers:
        cmd += ["--header", header]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_every_operation_survives_fuzzing(tmp_path):
    server = Server(tmp_path / "data", env={"LOG_LEVEL": "ERROR"}).start()
    try:
        result = schemathesis(server.url)
    finally:
        server.stop()
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert " passed" in summary and "failures" not in summary.lower().split("summary")[-1], summary
