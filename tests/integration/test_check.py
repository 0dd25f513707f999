"""`sluice check`: one pass/fail line per check, non-zero exit on any failure."""

from __future__ import annotations

import uuid

from click.testing import CliRunner

from entrypoints.cli import main


def run_check(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, ["check", *args], env=env, catch_exceptions=False)


def test_embedded_deployment_passes_every_check(tmp_path):
    env = {"SLUICE_DATA_DIR": str(tmp_path / "data")}
    assert CliRunner().invoke(main, ["migrate"], env=env).exit_code == 0
    result = run_check(env)
    assert result.exit_code == 0, result.output
    names = [line.split(":")[0] for line in result.output.splitlines()]
    assert names == [
        "PASS  database",
        "PASS  queue",
        "PASS  blob store",
        "PASS  embedder",
        "PASS  vector index",
        "PASS  end-to-end job",
        "PASS  queue health",
    ]


def test_an_unmigrated_database_fails_with_the_fix(tmp_path):
    result = run_check({"SLUICE_DATA_DIR": str(tmp_path / "fresh")})
    assert result.exit_code == 1
    assert "FAIL  database: schema at nothing, code expects" in result.output
    assert "run `sluice migrate`" in result.output


def test_distributed_without_workers_fails_end_to_end(tmp_path, postgres_url, redis_url):
    env = {
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "SLUICE_QUEUE_NAME": f"sluice-check-{uuid.uuid4().hex[:8]}",
    }
    result = run_check(env, "--timeout", "3")
    assert result.exit_code == 1, result.output
    assert "PASS  database: PostgreSQL reachable" in result.output
    assert "PASS  queue: Redis (SAQ) reachable" in result.output
    assert "FAIL  end-to-end job: the job stayed pending (are workers running?)" in result.output
