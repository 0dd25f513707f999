"""File uploads against a real `sluice serve` process: streamed, limited, and light on
the API process's memory."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest
from server import Server

pytestmark = pytest.mark.slow

MB = 1024 * 1024


def vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def wait_job(client: httpx.Client, job_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()["data"]
        if job["status"] in {"completed", "failed", "cancelled"}:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def prose_file(path: Path, size: int) -> None:
    """``size`` bytes of text in paragraphs of made-up words, written a block at a time."""
    rng = random.Random(4)
    words = ["".join(rng.choice("etaoinshrdlucmfw") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    written = 0
    with path.open("w", encoding="ascii") as out:
        while written < size:
            paragraph = " ".join(rng.choices(words, k=120)) + ".\n\n"
            paragraph = paragraph[: size - written]
            out.write(paragraph)
            written += len(paragraph)


def test_a_streamed_upload_past_the_limit_is_413_before_the_body_is_read(tmp_path):
    server = Server(tmp_path / "data", env={"MAX_UPLOAD_MB": "2"}).start()
    try:
        with server.client() as client:
            agent = client.post("/api/agents", json={"name": "limits"}).json()["data"]["id"]

            def chunked():  # no Content-Length: the limit is enforced on the bytes as they come
                yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
                for _ in range(48):
                    yield b"lorem ipsum " * 5461
                yield b"\r\n--B--\r\n"

            response = client.post(
                f"/api/agents/{agent}/sources/file",
                content=chunked(),
                headers={"content-type": "multipart/form-data; boundary=B"},
            )
            assert response.status_code == 413, response.text
            assert "MAX_UPLOAD_MB" in response.json()["error"]["message"]
            # Declared too large: refused from the header alone.
            declared = client.post(
                f"/api/agents/{agent}/sources/file",
                files={"file": ("big.txt", b"x" * (3 * MB))},
            )
            assert declared.status_code == 413 and declared.json()["error"]["code"] == "limit_exceeded"
            assert client.get(f"/api/agents/{agent}/sources").json()["data"] == []
        blobs = tmp_path / "data" / "blobs"
        assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]
    finally:
        server.stop()


def test_a_50_mb_upload_is_ingested_with_little_api_memory(tmp_path):
    source = tmp_path / "big.txt"
    prose_file(source, 50 * 1000 * 1000)
    server = Server(tmp_path / "data", env={"CHUNK_UNIT": "characters", "CHUNK_SIZE": "2000"}).start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        with server.client() as client:
            agent = client.post("/api/agents", json={"name": "memory"}).json()["data"]["id"]
            # Warm up: one small file through the whole path, so imports are not counted.
            warm = client.post(f"/api/agents/{agent}/sources/file", files={"file": ("w.txt", b"warm up words")})
            assert wait_job(client, warm.json()["data"]["jobId"], 60)["status"] == "completed"
            before = vm_kb(pid, "VmHWM")
            with source.open("rb") as handle:
                response = client.post(
                    f"/api/agents/{agent}/sources/file", files={"file": ("big.txt", handle)}, timeout=300
                )
            assert response.status_code == 201, response.text
            uploaded = vm_kb(pid, "VmHWM")
            job = wait_job(client, response.json()["data"]["jobId"], 600)
            assert job["status"] == "completed", job
            after = vm_kb(pid, "VmHWM")
        growth_upload_mb = (uploaded - before) / 1024
        growth_mb = (after - before) / 1024
        print(
            f"\nAPI process peak RSS (VmHWM): before {before / 1024:.0f} MB, after upload +{growth_upload_mb:.1f} MB, "
            f"after ingesting 50 MB +{growth_mb:.1f} MB ({job['result']['chunks']} chunks)"
        )
        assert growth_upload_mb < 100
        assert growth_mb < 100
    finally:
        server.stop()
