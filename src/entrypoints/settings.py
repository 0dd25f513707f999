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
        "`1` lets webhooks reach loopback, private and link-local addresses, not metadata ones (never in production).",
    ),
    (
        "CRAWL_ALLOW_PRIVATE_NETWORKS",
        "0",
        "`1` lets crawls reach loopback, private and link-local addresses, not metadata ones (intranets, tests; "
        "never on a shared server).",
    ),
    ("CRAWL_ALLOWED_PORTS", "80,443", "Ports a crawl may connect to, comma-separated; `*` for any."),
    ("CRAWL_MAX_PAGES_LIMIT", "1000", "Largest `maxPages` a website source may ask for (default request: 50)."),
    (
        "CRAWL_CONCURRENCY_PER_HOST",
        "4",
        "Requests in flight at once per crawl, all to its one site (1 when the site sets a Crawl-delay).",
    ),
    ("CRAWL_CONNECT_TIMEOUT_SECONDS", "10", "Connecting to a site (resolving included) must end within this."),
    ("CRAWL_PAGE_TIMEOUT_SECONDS", "30", "A whole page (redirects, headers and body) must arrive within this."),
    ("CRAWL_MAX_PAGE_MB", "10", "Largest page once decoded (gzip included); a larger one fails as too large."),
    ("CRAWL_MAX_CRAWL_DELAY_SECONDS", "60", "A site's robots.txt Crawl-delay is honoured up to this."),
    (
        "CRAWL_USER_AGENT",
        "Sluice/<version> (web crawler)",
        "User-Agent of the crawler; robots.txt rules for `Sluice` apply.",
    ),
    (
        "SLUICE_ADMIN_API_KEY",
        "(unset: auth off)",
        "Admin key (at least 16 characters): `Authorization: Bearer <key>` may do everything. "
        "Unset: no authentication, and `sluice serve` listens on loopback only.",
    ),
    ("IDEMPOTENCY_TTL_HOURS", "24", "How long an `Idempotency-Key` of source creation is remembered."),
    ("MAX_REQUEST_BODY_MB", "6 * MAX_TEXT_MB + 1", "Largest request body of any JSON endpoint (413 past it)."),
    ("MAX_NAME_CHARS", "200", "Longest agent or source name (at most 200: the column's width)."),
    ("MAX_PAGE_SIZE", "200", "Largest `limit` of a list (at most 200)."),
    ("MAX_PDF_PAGES", "2000", "A PDF with more pages fails its job."),
    ("DOCX_MAX_UNCOMPRESSED_MB", "200", "A DOCX whose zip declares more than this unpacked fails (zip bomb)."),
    ("DOCX_MAX_RATIO", "100", "A DOCX part over 1 MB compressed more than this ratio fails (zip bomb)."),
    ("MAX_CSV_ROWS", "1000000", "A CSV with more rows fails its job."),
    ("CSV_FIELD_SIZE_LIMIT", "131072", "Longest CSV field in characters (an unmatched quote runs into it)."),
    ("JSON_MAX_DEPTH", "100", "Deepest nesting of a JSON file; deeper fails (checked before parsing)."),
    ("EXTRACT_TIMEOUT_SECONDS", "120", "Time a PDF, DOCX or JSON file may take to extract in its child process."),
    ("EXTRACT_MEMORY_MB", "1024", "Memory a child extraction process may use beyond its parsers (RLIMIT_AS)."),
    ("EXTRACT_PROCESSES", "2", "Child extraction processes per worker (reused between files)."),
    ("S3_BUCKET", "(unset)", "Setting it stores uploads in this S3 / Cloudflare R2 bucket instead of the data folder."),
    (
        "S3_ENDPOINT_URL",
        "(AWS)",
        "Endpoint of an S3-compatible store, e.g. `https://<account>.r2.cloudflarestorage.com`.",
    ),
    ("S3_REGION", "(unset)", "Region of the bucket (`auto` for R2)."),
    ("S3_ACCESS_KEY_ID", "(AWS default chain)", "Access key id; unset uses the AWS default credential chain."),
    ("S3_SECRET_ACCESS_KEY", "(AWS default chain)", "Secret access key."),
    ("LOG_LEVEL", "INFO", "Logging level."),
    ("LOG_FORMAT", "json", "`json` (one object per line) or `console`; `console` by default on a terminal."),
    ("SLUICE_SERVER", "(unset)", "CLI only: `ingest`, `jobs`, `sources`, `agents` act on this server, not local data."),
    ("SLUICE_API_KEY", "(unset)", "CLI only: API key sent to `SLUICE_SERVER` (`Authorization: Bearer`)."),
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
class CrawlSettings:
    allow_private_networks: bool = False
    allowed_ports: frozenset[int] | None = frozenset({80, 443})
    max_pages_limit: int = 1000
    concurrency_per_host: int = 4
    connect_timeout_seconds: float = 10.0
    page_timeout_seconds: float = 30.0
    max_page_bytes: int = 10 * MB
    max_crawl_delay_seconds: float = 60.0
    user_agent: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CrawlSettings:
        return cls(
            allow_private_networks=_bool(env, "CRAWL_ALLOW_PRIVATE_NETWORKS", False),
            allowed_ports=_ports(env, "CRAWL_ALLOWED_PORTS", frozenset({80, 443})),
            max_pages_limit=_int(env, "CRAWL_MAX_PAGES_LIMIT", 1000, minimum=1),
            concurrency_per_host=_int(env, "CRAWL_CONCURRENCY_PER_HOST", 4, minimum=1),
            connect_timeout_seconds=_float(env, "CRAWL_CONNECT_TIMEOUT_SECONDS", 10.0, minimum=0.01),
            page_timeout_seconds=_float(env, "CRAWL_PAGE_TIMEOUT_SECONDS", 30.0, minimum=0.01),
            max_page_bytes=int(_float(env, "CRAWL_MAX_PAGE_MB", 10, minimum=0.001) * MB),
            max_crawl_delay_seconds=_float(env, "CRAWL_MAX_CRAWL_DELAY_SECONDS", 60.0),
            user_agent=env.get("CRAWL_USER_AGENT", "").strip() or None,
        )


def _ports(env: Mapping[str, str], name: str, default: frozenset[int]) -> frozenset[int] | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw == "*":
        return None
    ports = set()
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            raise InvalidInput(f"{name} must be port numbers separated by commas (or *), not {raw!r}")
        ports.add(int(part))
    return frozenset(ports)


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
    max_request_body_bytes: int = 0  # 0: derived from max_text_bytes (see request_body_limit)
    max_name_chars: int = 200
    max_page_size: int = 200

    @property
    def request_body_limit(self) -> int:
        # JSON escapes can make a text body several times its decoded size; the text limit
        # itself is checked after decoding, with a message that names it.
        return self.max_request_body_bytes or self.max_text_bytes * 6 + MB

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LimitSettings:
        body = _float(env, "MAX_REQUEST_BODY_MB", 0)
        return cls(
            max_text_bytes=int(_float(env, "MAX_TEXT_MB", 16, minimum=0.001) * MB),
            max_upload_bytes=int(_float(env, "MAX_UPLOAD_MB", 50, minimum=0.001) * MB),
            max_query_chars=_int(env, "MAX_QUERY_CHARS", 8000, minimum=1),
            max_top_k=_int(env, "MAX_TOP_K", 100, minimum=1),
            max_request_body_bytes=int(body * MB),
            max_name_chars=_bounded(env, "MAX_NAME_CHARS", 200, maximum=200),
            max_page_size=_bounded(env, "MAX_PAGE_SIZE", 200, maximum=200),
        )


def _bounded(env: Mapping[str, str], name: str, default: int, *, maximum: int) -> int:
    value = _int(env, name, default, minimum=1)
    if value > maximum:
        raise InvalidInput(f"{name} must be at most {maximum}")
    return value


MIN_ADMIN_KEY_LENGTH = 16


def _admin_key(env: Mapping[str, str]) -> str | None:
    key = env.get("SLUICE_ADMIN_API_KEY", "").strip()
    if not key:
        return None
    if len(key) < MIN_ADMIN_KEY_LENGTH:
        raise InvalidInput(f"SLUICE_ADMIN_API_KEY must be at least {MIN_ADMIN_KEY_LENGTH} characters")
    return key


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
class ExtractSettings:
    max_pdf_pages: int = 2000
    docx_max_uncompressed_bytes: int = 200 * MB
    docx_max_ratio: int = 100
    max_csv_rows: int = 1_000_000
    csv_field_size: int = 131_072
    json_max_depth: int = 100
    timeout_seconds: float = 120.0
    memory_mb: int = 1024
    processes: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExtractSettings:
        return cls(
            max_pdf_pages=_int(env, "MAX_PDF_PAGES", 2000, minimum=1),
            docx_max_uncompressed_bytes=int(_float(env, "DOCX_MAX_UNCOMPRESSED_MB", 200, minimum=0.001) * MB),
            docx_max_ratio=_int(env, "DOCX_MAX_RATIO", 100, minimum=2),
            max_csv_rows=_int(env, "MAX_CSV_ROWS", 1_000_000, minimum=1),
            csv_field_size=_int(env, "CSV_FIELD_SIZE_LIMIT", 131_072, minimum=1024),
            json_max_depth=_int(env, "JSON_MAX_DEPTH", 100, minimum=1),
            timeout_seconds=_float(env, "EXTRACT_TIMEOUT_SECONDS", 120.0, minimum=0.001),
            memory_mb=_int(env, "EXTRACT_MEMORY_MB", 1024),
            processes=_int(env, "EXTRACT_PROCESSES", 2, minimum=1),
        )


@dataclass(frozen=True, slots=True)
class S3Settings:
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> S3Settings:
        return cls(
            bucket=env.get("S3_BUCKET", "").strip() or None,
            endpoint_url=env.get("S3_ENDPOINT_URL", "").strip() or None,
            region=env.get("S3_REGION", "").strip() or None,
            access_key_id=env.get("S3_ACCESS_KEY_ID", "").strip() or None,
            secret_access_key=env.get("S3_SECRET_ACCESS_KEY", "").strip() or None,
        )


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
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
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
    admin_api_key: str | None = None
    idempotency_ttl_hours: float = 24.0
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    s3: S3Settings = field(default_factory=S3Settings)

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
            crawl=CrawlSettings.from_env(env),
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
            admin_api_key=_admin_key(env),
            idempotency_ttl_hours=_float(env, "IDEMPOTENCY_TTL_HOURS", 24.0, minimum=0.001),
            extract=ExtractSettings.from_env(env),
            s3=S3Settings.from_env(env),
        )

    @property
    def auth_enabled(self) -> bool:
        """Without an admin key there is no authentication (loopback only)."""
        return self.admin_api_key is not None

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
