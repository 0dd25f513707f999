"""The composition root: the only place that knows which adapter serves which port.

Each port's adapter is chosen from the settings independently (``DATABASE_URL`` moves
the store to PostgreSQL, ``REDIS_HOST`` the queue to SAQ, ...); with nothing set,
everything runs embedded under ``SLUICE_DATA_DIR``. Optional adapters are imported
lazily, where they are built. Tests override any provider with
``container.<name>.override(...)``.
"""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from adapters.system.clock import SystemClock, SystemRandom
from domain.chunking import CharacterMeasure
from domain.retry import RetryPolicy
from domain.services.access import AccessService
from domain.services.agents import AgentService
from domain.services.deliverer import WebhookDeliverer
from domain.services.deps import Limits, Ports, ServiceConfig
from domain.services.jobs import JobService
from domain.services.maintenance import Maintenance
from domain.services.operations import OperationsService
from domain.services.runner import JobRunner
from domain.services.search import SearchService
from domain.services.sources import SourceService
from domain.services.watch import WatchService
from domain.services.webhooks import WebhookService
from domain.sources import ChunkingOptions, ChunkUnit
from domain.webhooks import WebhookOptions
from entrypoints.settings import Settings


def _store(settings: Settings) -> Any:
    from adapters.sqlalchemy.store import SqlAlchemyStore

    if settings.is_embedded_store:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqlAlchemyStore(settings.store_url)


def _queue(settings: Settings, clock: Any) -> Any:
    if settings.redis.url:
        from adapters.saq.queue import SaqJobQueue

        return SaqJobQueue(
            settings.redis.url,
            name=settings.queue_name,
            heartbeat_seconds=settings.jobs.lease_seconds,
            job_timeout_seconds=settings.jobs.timeout_seconds,
        )
    from adapters.inprocess.queue import InProcessJobQueue

    return InProcessJobQueue(clock)


def _blobs(settings: Settings) -> Any:
    s3 = settings.s3
    if s3.bucket:
        from adapters.s3.blobs import S3BlobStore

        return S3BlobStore(
            s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )
    from adapters.local.blobs import LocalBlobStore

    return LocalBlobStore(settings.data_dir / "blobs")


def _embedder(settings: Settings) -> Any:
    if settings.openai_api_key:
        return _openai_embedder(settings)
    if settings.embedder == "static":
        from adapters.static.embedder import StaticEmbedder

        return StaticEmbedder()
    if settings.embedder == "hashing":
        from adapters.hashing.embedder import HashingEmbedder

        return HashingEmbedder()
    if settings.embedder == "sentence-transformers":
        from adapters.sentencetransformers.embedder import SentenceTransformersEmbedder

        return SentenceTransformersEmbedder(settings.sentence_transformers_model)
    raise ValueError(f"unknown SLUICE_EMBEDDER {settings.embedder!r} (known: static, hashing, sentence-transformers)")


def _openai_embedder(settings: Settings) -> Any:
    """OpenAI (or a compatible server), under the shared rate limit, behind the cache."""
    from adapters.openai.embedder import OpenAIEmbedder

    openai = settings.openai
    if settings.redis.url:
        from adapters.redis.ratelimit import RedisRateLimiter

        limiter: Any = RedisRateLimiter(
            settings.redis.url,
            key=f"{settings.queue_name}:ratelimit:embeddings",
            requests_per_period=openai.requests_per_minute,
            tokens_per_period=openai.tokens_per_minute,
        )
    else:
        from adapters.memory.ratelimit import MemoryRateLimiter

        limiter = MemoryRateLimiter(openai.requests_per_minute, openai.tokens_per_minute)
    # The embedder's own retries (Retry-After, backoff) must end before the runner's
    # EMBED_TIMEOUT_SECONDS does, so a job fails with the real cause, not "timed out".
    timeout = settings.embed_timeout_seconds
    embedder = OpenAIEmbedder(
        api_key=settings.openai_api_key or "",
        model=openai.model,
        base_url=openai.base_url,
        dimensions=openai.dimensions,
        limiter=limiter,
        max_in_flight=openai.max_in_flight,
        max_wait_seconds=0.8 * timeout,
        timeout_seconds=min(60.0, 0.5 * timeout),
    )
    if settings.embed_cache_mb <= 0:
        return embedder
    from adapters.caching.embedder import CachingEmbedder

    # A float32 vector plus the key and the store's own overhead per entry.
    entries = max(1, settings.embed_cache_mb * 1024 * 1024 // (embedder.dimensions * 4 + 200))
    if settings.redis.url:
        from adapters.redis.embedding_cache import RedisEmbeddingCache

        cache: Any = RedisEmbeddingCache(
            settings.redis.url, prefix=f"{settings.queue_name}:embedding-cache", max_entries=entries
        )
    else:
        from adapters.local.embedding_cache import SqliteEmbeddingCache

        cache = SqliteEmbeddingCache(settings.data_dir, max_entries=entries)
    return CachingEmbedder(embedder, cache)


def _vectors(settings: Settings, embedder: Any) -> Any:
    if settings.pinecone.api_key:
        from adapters.pinecone.vectors import PineconeVectorIndex

        return PineconeVectorIndex(
            api_key=settings.pinecone.api_key,
            index_name=settings.pinecone.index,
            host=settings.pinecone.host,
            # Each try of a call (the SDK retries up to 3 times) within VECTOR_TIMEOUT_SECONDS.
            timeout_seconds=min(30.0, settings.vector_timeout_seconds / 4),
        )
    from adapters.local.model_stamp import check_model
    from adapters.local.vectors import SqliteVectorIndex

    folder = settings.data_dir / "vectors"
    # Vectors of two models never mix: a folder built with another model fails here, at start-up.
    check_model(folder, embedder.model, embedder_setting=embedder_setting(settings))
    return SqliteVectorIndex(folder)


def embedder_setting(settings: Settings) -> str:
    """The setting that chose the embedder, as a user would write it."""
    return "OPENAI_API_KEY is set" if settings.openai_api_key else f"SLUICE_EMBEDDER={settings.embedder}"


def _notifier(settings: Settings) -> Any:
    from adapters.channels.notifier import ChannelsNotifier

    if settings.redis.url:
        return ChannelsNotifier.redis(settings.redis.url, prefix=f"{settings.queue_name}_channels")
    return ChannelsNotifier.memory()


def _webhook_sender(settings: Settings) -> Any:
    from adapters.httpx.webhooks import HttpxWebhookSender

    return HttpxWebhookSender(allow_private_networks=settings.webhooks.allow_private_networks)


def _crawler(settings: Settings) -> Any:
    from adapters.httpx.crawler import CrawlerSettings, HttpxWebCrawler
    from domain.netpolicy import NetPolicy

    crawl = settings.crawl
    defaults = CrawlerSettings()
    return HttpxWebCrawler(
        CrawlerSettings(
            policy=NetPolicy(allow_private=crawl.allow_private_networks, allowed_ports=crawl.allowed_ports),
            user_agent=crawl.user_agent or defaults.user_agent,
            concurrency_per_host=crawl.concurrency_per_host,
            connect_timeout=crawl.connect_timeout_seconds,
            page_timeout=crawl.page_timeout_seconds,
            max_page_bytes=crawl.max_page_bytes,
            max_crawl_delay=crawl.max_crawl_delay_seconds,
        )
    )


def _telemetry() -> Any:
    from adapters.prometheus.telemetry import PrometheusTelemetry

    return PrometheusTelemetry()


def _extractor(settings: Settings, config: ServiceConfig) -> Any:
    from adapters.extract.extractor import FileTextExtractor
    from adapters.extract.isolation import IsolatedExtraction
    from adapters.extract.limits import ExtractLimits

    ex = settings.extract
    limits = ExtractLimits(
        max_section_chars=config.max_section_chars,
        max_pdf_pages=ex.max_pdf_pages,
        docx_max_uncompressed_bytes=ex.docx_max_uncompressed_bytes,
        docx_max_ratio=ex.docx_max_ratio,
        max_csv_rows=ex.max_csv_rows,
        csv_field_size=ex.csv_field_size,
        json_max_depth=ex.json_max_depth,
        timeout_seconds=ex.timeout_seconds,
        memory_mb=ex.memory_mb,
    )
    isolation = IsolatedExtraction(memory_mb=ex.memory_mb, timeout_seconds=ex.timeout_seconds, size=ex.processes)
    return FileTextExtractor(limits, isolation)


def _token_measure() -> Any:
    from adapters.tiktoken.measure import TiktokenMeasure

    return TiktokenMeasure()


def _service_config(settings: Settings, worker_id: str | None) -> ServiceConfig:
    jobs, chunks, limits, hooks = settings.jobs, settings.chunks, settings.limits, settings.webhooks
    extra: dict[str, Any] = {"worker_id": worker_id} if worker_id else {}
    return ServiceConfig(
        chunking=ChunkingOptions(size=chunks.size, overlap=chunks.overlap, unit=ChunkUnit(chunks.unit)),
        max_attempts=jobs.max_attempts,
        retry=RetryPolicy(base_seconds=jobs.retry_base_seconds, cap_seconds=jobs.retry_max_seconds),
        lease_seconds=jobs.lease_seconds,
        limits=Limits(
            max_text_bytes=limits.max_text_bytes,
            max_upload_bytes=limits.max_upload_bytes,
            max_query_chars=limits.max_query_chars,
            max_top_k=limits.max_top_k,
            max_name_chars=limits.max_name_chars,
            max_page_size=limits.max_page_size,
            max_crawl_pages=settings.crawl.max_pages_limit,
        ),
        idempotency_ttl_seconds=settings.idempotency_ttl_hours * 3600,
        embed_batch_size=settings.embed_batch_size,
        embed_timeout_seconds=settings.embed_timeout_seconds,
        vector_timeout_seconds=settings.vector_timeout_seconds,
        cleanup_days=jobs.cleanup_days,
        webhooks=WebhookOptions(
            max_attempts=hooks.max_attempts,
            retry=RetryPolicy(base_seconds=hooks.retry_base_seconds, cap_seconds=hooks.retry_max_seconds),
            timeout_seconds=hooks.timeout_seconds,
            allow_private_networks=hooks.allow_private_networks,
        ),
        **extra,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    worker_id: providers.Object[str | None] = providers.Object(None)

    clock = providers.Singleton(SystemClock)
    random = providers.Singleton(SystemRandom)
    store = providers.Singleton(_store, settings)
    queue = providers.Singleton(_queue, settings, clock)
    blobs = providers.Singleton(_blobs, settings)
    embedder = providers.Singleton(_embedder, settings)
    vectors = providers.Singleton(_vectors, settings, embedder)
    notifier = providers.Singleton(_notifier, settings)
    webhook_sender = providers.Singleton(_webhook_sender, settings)
    token_measure = providers.Singleton(_token_measure)
    character_measure = providers.Singleton(CharacterMeasure)
    telemetry = providers.Singleton(_telemetry)
    crawler = providers.Singleton(_crawler, settings)

    config = providers.Singleton(_service_config, settings, worker_id)
    extractor = providers.Singleton(_extractor, settings, config)
    ports = providers.Singleton(
        Ports,
        store=store,
        queue=queue,
        blobs=blobs,
        embedder=embedder,
        vectors=vectors,
        notifier=notifier,
        clock=clock,
        random=random,
        token_measure=token_measure,
        extractor=extractor,
        crawler=crawler,
        webhook_sender=webhook_sender,
        telemetry=telemetry,
    )

    agents = providers.Singleton(AgentService, ports, config)
    sources = providers.Singleton(SourceService, ports, config)
    jobs = providers.Singleton(JobService, ports)
    search = providers.Singleton(SearchService, ports, config)
    runner = providers.Singleton(JobRunner, ports, config)
    watch = providers.Singleton(WatchService, ports)
    operations = providers.Singleton(OperationsService, ports)
    maintenance = providers.Singleton(Maintenance, ports, config)
    webhooks = providers.Singleton(WebhookService, ports, config)
    deliverer = providers.Singleton(WebhookDeliverer, ports, config)
    access = providers.Singleton(AccessService, ports, settings.provided.admin_api_key)


def build_container(settings: Settings | None = None, **overrides: Any) -> Container:
    container = Container(settings=settings or Settings.from_env())
    for name, value in overrides.items():
        getattr(container, name).override(providers.Object(value))
    return container
