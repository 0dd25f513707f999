"""Settings: the seed's names, defaults, clear errors, and the README table in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import InvalidInput
from entrypoints.settings import SETTINGS_DOC, Settings

README = Path(__file__).parents[2] / "README.md"


def test_defaults_are_the_embedded_mode():
    s = Settings.from_env({})
    assert s.database_url is None and s.redis.url is None and s.is_embedded_store
    assert (s.jobs.concurrency, s.jobs.max_attempts, s.jobs.cleanup_days) == (3, 3, 7.0)
    assert (s.chunks.size, s.chunks.overlap, s.chunks.unit) == (512, 64, "tokens")
    assert s.store_url.startswith("sqlite+aiosqlite:///") and s.store_url.endswith(".sluice/sluice.db")


def test_seed_variables_are_read():
    s = Settings.from_env(
        {
            "REDIS_HOST": "cache",
            "REDIS_PORT": "6380",
            "REDIS_PASSWORD": "pw",
            "REDIS_DB": "2",
            "JOB_CONCURRENCY": "7",
            "JOB_MAX_RETRIES": "5",
            "JOB_CLEANUP_DAYS": "1",
            "OPENAI_API_KEY": "sk-x",
        }
    )
    assert s.redis.url == "redis://:pw@cache:6380/2"
    assert (s.jobs.concurrency, s.jobs.max_attempts, s.jobs.cleanup_days) == (7, 5, 1.0)
    assert s.openai_api_key == "sk-x"
    assert Settings.from_env({"REDIS_URL": "redis://x:1/0", "REDIS_HOST": "ignored"}).redis.url == "redis://x:1/0"


def test_bad_values_name_the_variable():
    with pytest.raises(InvalidInput, match="JOB_CONCURRENCY"):
        Settings.from_env({"JOB_CONCURRENCY": "lots"})
    with pytest.raises(InvalidInput, match="JOB_MAX_RETRIES"):
        Settings.from_env({"JOB_MAX_RETRIES": "0"})


def test_readme_documents_every_setting_with_its_default():
    text = README.read_text()
    for name, default, _ in SETTINGS_DOC:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert rows, f"{name} is missing from the README's configuration table"
        assert default.strip("`").split(" ")[0] in rows[0], f"README default of {name} differs from {default!r}"


def test_embedding_and_vector_services_are_read():
    s = Settings.from_env(
        {
            "OPENAI_API_KEY": "sk-x",
            "OPENAI_BASE_URL": "http://ollama:11434/v1",
            "OPENAI_EMBEDDING_MODEL": "nomic-embed-text",
            "OPENAI_EMBEDDING_DIMENSIONS": "768",
            "OPENAI_RPM": "3000",
            "OPENAI_TPM": "1000000",
            "EMBED_CACHE_MB": "0",
            "PINECONE_API_KEY": "pc-x",
            "PINECONE_INDEX": "docs",
        }
    )
    assert (s.openai.base_url, s.openai.model, s.openai.dimensions) == (
        "http://ollama:11434/v1",
        "nomic-embed-text",
        768,
    )
    assert (s.openai.requests_per_minute, s.openai.tokens_per_minute, s.embed_cache_mb) == (3000, 1_000_000, 0)
    assert (s.pinecone.api_key, s.pinecone.index, s.pinecone.host) == ("pc-x", "docs", None)
    defaults = Settings.from_env({})
    assert (defaults.openai.model, defaults.openai.dimensions, defaults.pinecone.api_key) == (
        "text-embedding-3-small",
        None,
        None,
    )


def test_pinecone_needs_an_index_or_a_host():
    with pytest.raises(InvalidInput, match="PINECONE_INDEX or PINECONE_HOST"):
        Settings.from_env({"PINECONE_API_KEY": "pc-x"})
    with pytest.raises(InvalidInput, match="OPENAI_RPM"):
        Settings.from_env({"OPENAI_RPM": "-1"})


def test_webhook_settings_and_the_private_network_switch():
    s = Settings.from_env({})
    hooks = s.webhooks
    assert (hooks.max_attempts, hooks.retry_base_seconds, hooks.retry_max_seconds) == (8, 30.0, 3600.0)
    assert (hooks.timeout_seconds, hooks.poll_seconds, hooks.allow_private_networks) == (10.0, 1.0, False)
    assert Settings.from_env({"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}).webhooks.allow_private_networks
    assert Settings.from_env({"CRAWL_ALLOW_PRIVATE_NETWORKS": "1"}).webhooks.allow_private_networks
    both = {"CRAWL_ALLOW_PRIVATE_NETWORKS": "1", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "0"}
    assert not Settings.from_env(both).webhooks.allow_private_networks
    with pytest.raises(InvalidInput, match="WEBHOOK_ALLOW_PRIVATE_NETWORKS"):
        Settings.from_env({"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "maybe"})
    with pytest.raises(InvalidInput, match="WEBHOOK_MAX_ATTEMPTS"):
        Settings.from_env({"WEBHOOK_MAX_ATTEMPTS": "0"})
