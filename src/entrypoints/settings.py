"""Every setting, read from the environment in one place.

Names follow the seed where it has one (``REDIS_*``, ``JOB_*``, ``OPENAI_API_KEY``);
the README's configuration table is generated from ``SETTINGS_DOC`` below, so the two
cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import InvalidInput

MB = 1024 * 1024
EMBEDDERS = ("static", "hashing", "sentence-transformers")

# (name, default, meaning) — the README table.
SETTINGS_DOC: list[tuple[str, str, str]] = [
    ("SLUICE_DATA_DIR", "./.sluice", "Folder of the embedded mode: SQLite database, blobs, vector index."),
    ("SLUICE_HOST", "127.0.0.1", "Address `sluice serve` listens on."),
    ("SLUICE_PORT", "8000", "Port `sluice serve` listens on."),
    ("DATABASE_URL", "SQLite in the data folder", "`postgresql+asyncpg://user:pass@host/db` for PostgreSQL."),
    ("REDIS_HOST", "(unset)", "Setting it switches the queue to SAQ on Redis (distributed mode)."),
    ("REDIS_PORT", "6379", "Redis port."),
    ("REDIS_PASSWORD", "(empty)", "Redis password."),
    ("REDIS_DB", "0", "Redis database number."),
    ("REDIS_URL", "(unset)", "Alternative to the REDIS_* parts, e.g. `redis://:pw@host:6379/0`."),
    ("JOB_CONCURRENCY", "3", "Jobs run in parallel per worker process."),
    ("JOB_MAX_RETRIES", "3", "Attempts per job before it fails (automatic retries with backoff)."),
    ("JOB_CLEANUP_DAYS", "7", "Completed, failed and cancelled jobs older than this are deleted."),
    ("JOB_RETRY_BASE_SECONDS", "2", "First backoff ceiling; doubles per attempt (full jitter)."),
    ("JOB_RETRY_MAX_SECONDS", "300", "Backoff cap."),
    ("JOB_LEASE_SECONDS", "10", "A running job's lease; a worker that stops renewing it loses the job."),
    ("JOB_RECONCILE_SECONDS", "2", "How often workers re-dispatch orphans and reclaim expired leases."),
    ("JOB_ORPHAN_SECONDS", "10", "A pending job untouched this long is dispatched again (lost ticket)."),
    ("JOB_TIMEOUT_SECONDS", "21600", "Longest a single job may run before its worker gives it up."),
    ("SLUICE_QUEUE_NAME", "sluice", "Name of the SAQ queue (and prefix of the event channels) in Redis."),
    ("CHUNK_SIZE", "512", "Chunk size (tokens of cl100k, or characters when CHUNK_UNIT=characters)."),
    ("CHUNK_OVERLAP", "64", "Overlap between consecutive chunks, same unit."),
    ("CHUNK_UNIT", "tokens", "`tokens` or `characters`."),
    ("EMBED_BATCH_SIZE", "(embedder's)", "Chunks embedded and upserted per batch."),
    ("EMBED_TIMEOUT_SECONDS", "120", "An embedding call slower than this fails the attempt (retried)."),
    ("VECTOR_TIMEOUT_SECONDS", "60", "A vector-index call slower than this fails the attempt (retried)."),
    (
        "SLUICE_EMBEDDER",
        "static",
        "Embedder without `OPENAI_API_KEY`: `static` (semantic, a token table distilled from MiniLM, "
        "shipped), `hashing` (lexical) or `sentence-transformers` (needs the extra of that name).",
    ),
    (
        "SENTENCE_TRANSFORMERS_MODEL",
        "all-MiniLM-L6-v2",
        "Model of `SLUICE_EMBEDDER=sentence-transformers`: a local folder or a model name.",
    ),
    ("OPENAI_API_KEY", "(unset)", "Setting it switches embeddings to OpenAI (or `OPENAI_BASE_URL`)."),
    ("OPENAI_BASE_URL", "(OpenAI)", "Any OpenAI-compatible server: Ollama, vLLM, TEI, LiteLLM (`http://host/v1`)."),
    ("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small", "Embedding model."),
    ("OPENAI_EMBEDDING_DIMENSIONS", "(model's)", "Vector size; required for models other than OpenAI's."),
    ("OPENAI_RPM", "0", "Requests per minute for all workers together (shared in Redis); 0: no limit."),
    ("OPENAI_TPM", "0", "Tokens per minute for all workers together (shared in Redis); 0: no limit."),
    ("OPENAI_MAX_IN_FLIGHT", "4", "Embedding requests in flight at once per process."),
    ("EMBED_CACHE_MB", "256", "Cache of computed embeddings (Redis, else a file in the data folder); 0: off."),
    ("PINECONE_API_KEY", "(unset)", "Setting it switches the vector index to Pinecone."),
    ("PINECONE_INDEX", "(unset)", "Name of the Pinecone index (its host is looked up once)."),
    ("PINECONE_HOST", "(unset)", "Host of the Pinecone index, instead of `PINECONE_INDEX` (no lookup)."),
    ("MAX_TEXT_MB", "16", "Largest pasted text source."),
    ("MAX_UPLOAD_MB", "50", "Largest uploaded file."),
    ("MAX_QUERY_CHARS", "8000", "Longest search query."),
    ("MAX_TOP_K", "100", "Largest `topK` of a search."),
    ("WEBHOOK_MAX_ATTEMPTS", "8", "Attempts per webhook delivery before it is marked failed."),
    ("WEBHOOK_RETRY_BASE_SECONDS", "30", "First webhook backoff ceiling; doubles per attempt (full jitter)."),
    ("WEBHOOK_RETRY_MAX_SECONDS", "3600", "Webhook backoff cap."),
    ("WEBHOOK_TIMEOUT_SECONDS", "10", "A receiver must answer within this (resolve, connect, respond)."),
    ("WEBHOOK_POLL_SECONDS", "1", "How often each worker looks for webhook deliveries to send."),
    (
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS",
        "(CRAWL_ALLOW_PRIVATE_NETWORKS, else 0)",
        "`1` lets webhooks reach loopback, private and link-local addresses (never in production).",
    ),
    ("LOG_LEVEL", "INFO", "Logging level."),
    ("LOG_FORMAT", "json", "`json` (one object per line) or `console`; `console` by default on a terminal."),
]


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}")
    return value


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise InvalidInput(f"{name} must be 1 or 0 (true or false), not {raw!r}")


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RedisSettings:
        if env.get("REDIS_URL"):
            return cls(url=env["REDIS_URL"])
        host = env.get("REDIS_HOST", "").strip()
        if not host:
            return cls(url=None)
        port = _int(env, "REDIS_PORT", 6379, minimum=1)
        db = _int(env, "REDIS_DB", 0)
        password = env.get("REDIS_PASSWORD", "")
        auth = f":{password}@" if password else ""
        return cls(url=f"redis://{auth}{host}:{port}/{db}")


@dataclass(frozen=True, slots=True)
class JobSettings:
    concurrency: int = 3
    max_attempts: int = 3
    cleanup_days: float = 7.0
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    lease_seconds: float = 10.0
    reconcile_seconds: float = 2.0
    orphan_seconds: float = 10.0
    timeout_seconds: int = 21600

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JobSettings:
        return cls(
            concurrency=_int(env, "JOB_CONCURRENCY", 3, minimum=1),
            max_attempts=_int(env, "JOB_MAX_RETRIES", 3, minimum=1),
            cleanup_days=_float(env, "JOB_CLEANUP_DAYS", 7.0),
            retry_base_seconds=_float(env, "JOB_RETRY_BASE_SECONDS", 2.0, minimum=0.001),
            retry_max_seconds=_float(env, "JOB_RETRY_MAX_SECONDS", 300.0, minimum=0.001),
            lease_seconds=_float(env, "JOB_LEASE_SECONDS", 10.0, minimum=1.0),
            reconcile_seconds=_float(env, "JOB_RECONCILE_SECONDS", 2.0, minimum=0.1),
            orphan_seconds=_float(env, "JOB_ORPHAN_SECONDS", 10.0),
            timeout_seconds=_int(env, "JOB_TIMEOUT_SECONDS", 21600, minimum=10),
        )


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    max_attempts: int = 8
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    allow_private_networks: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        # One switch can serve the crawler and webhooks alike (a local test setup).
        private = _bool(env, "CRAWL_ALLOW_PRIVATE_NETWORKS", False)
        return cls(
            max_attempts=_int(env, "WEBHOOK_MAX_ATTEMPTS", 8, minimum=1),
            retry_base_seconds=_float(env, "WEBHOOK_RETRY_BASE_SECONDS", 30.0, minimum=0.001),
            retry_max_seconds=_float(env, "WEBHOOK_RETRY_MAX_SECONDS", 3600.0, minimum=0.001),
            timeout_seconds=_float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            poll_seconds=_float(env, "WEBHOOK_POLL_SECONDS", 1.0, minimum=0.05),
            allow_private_networks=_bool(env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", private),
        )


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    size: int = 512
    overlap: int = 64
    unit: str = "tokens"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ChunkSettings:
        return cls(
            size=_int(env, "CHUNK_SIZE", 512, minimum=1),
            overlap=_int(env, "CHUNK_OVERLAP", 64),
            unit=env.get("CHUNK_UNIT", "tokens").strip() or "tokens",
        )


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_text_bytes: int = 16 * MB
    max_upload_bytes: int = 50 * MB
    max_query_chars: int = 8000
    max_top_k: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LimitSettings:
        return cls(
            max_text_bytes=int(_float(env, "MAX_TEXT_MB", 16, minimum=0.001) * MB),
            max_upload_bytes=int(_float(env, "MAX_UPLOAD_MB", 50, minimum=0.001) * MB),
            max_query_chars=_int(env, "MAX_QUERY_CHARS", 8000, minimum=1),
            max_top_k=_int(env, "MAX_TOP_K", 100, minimum=1),
        )


@dataclass(frozen=True, slots=True)
class OpenAISettings:
    base_url: str | None = None
    model: str = "text-embedding-3-small"
    dimensions: int | None = None
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    max_in_flight: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OpenAISettings:
        return cls(
            base_url=env.get("OPENAI_BASE_URL", "").strip() or None,
            model=env.get("OPENAI_EMBEDDING_MODEL", "").strip() or "text-embedding-3-small",
            dimensions=_int(env, "OPENAI_EMBEDDING_DIMENSIONS", 0, minimum=1) or None,
            requests_per_minute=_int(env, "OPENAI_RPM", 0),
            tokens_per_minute=_int(env, "OPENAI_TPM", 0),
            max_in_flight=_int(env, "OPENAI_MAX_IN_FLIGHT", 4, minimum=1),
        )


@dataclass(frozen=True, slots=True)
class PineconeSettings:
    api_key: str | None = None
    index: str | None = None
    host: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PineconeSettings:
        settings = cls(
            api_key=env.get("PINECONE_API_KEY", "").strip() or None,
            index=env.get("PINECONE_INDEX", "").strip() or None,
            host=env.get("PINECONE_HOST", "").strip() or None,
        )
        if settings.api_key and not (settings.index or settings.host):
            raise InvalidInput("PINECONE_API_KEY is set: set PINECONE_INDEX or PINECONE_HOST too")
        return settings


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path(".sluice")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    redis: RedisSettings = field(default_factory=lambda: RedisSettings(url=None))
    queue_name: str = "sluice"
    jobs: JobSettings = field(default_factory=JobSettings)
    chunks: ChunkSettings = field(default_factory=ChunkSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    embedder: str = "static"
    sentence_transformers_model: str | None = None
    embed_batch_size: int | None = None
    embed_timeout_seconds: float = 120.0
    vector_timeout_seconds: float = 60.0
    openai_api_key: str | None = None
    openai: OpenAISettings = field(default_factory=OpenAISettings)
    embed_cache_mb: int = 256
    pinecone: PineconeSettings = field(default_factory=PineconeSettings)
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        batch = _int(env, "EMBED_BATCH_SIZE", 0)
        return cls(
            data_dir=Path(env.get("SLUICE_DATA_DIR", "").strip() or ".sluice"),
            host=env.get("SLUICE_HOST", "").strip() or "127.0.0.1",
            port=_int(env, "SLUICE_PORT", 8000, minimum=1),
            database_url=env.get("DATABASE_URL", "").strip() or None,
            redis=RedisSettings.from_env(env),
            queue_name=env.get("SLUICE_QUEUE_NAME", "").strip() or "sluice",
            jobs=JobSettings.from_env(env),
            chunks=ChunkSettings.from_env(env),
            limits=LimitSettings.from_env(env),
            webhooks=WebhookSettings.from_env(env),
            embedder=_choice(env, "SLUICE_EMBEDDER", "static", EMBEDDERS),
            sentence_transformers_model=env.get("SENTENCE_TRANSFORMERS_MODEL", "").strip() or None,
            embed_batch_size=batch or None,
            embed_timeout_seconds=_float(env, "EMBED_TIMEOUT_SECONDS", 120.0, minimum=0.1),
            vector_timeout_seconds=_float(env, "VECTOR_TIMEOUT_SECONDS", 60.0, minimum=0.1),
            openai_api_key=env.get("OPENAI_API_KEY", "").strip() or None,
            openai=OpenAISettings.from_env(env),
            embed_cache_mb=_int(env, "EMBED_CACHE_MB", 256),
            pinecone=PineconeSettings.from_env(env),
            log_level=env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
        )

    @property
    def sqlite_url(self) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sluice.db').resolve()}"

    @property
    def store_url(self) -> str:
        return self.database_url or self.sqlite_url

    @property
    def is_embedded_store(self) -> bool:
        return self.database_url is None


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or default
    if value not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
