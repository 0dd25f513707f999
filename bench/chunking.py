"""Scenario 1: chunking 512 tokens with 64 overlap in cl100k, against the best peers.

Every chunker gets the same text (the corpus cut into documents of ~100 KB, as sources
arrive) and the same tokenizer (tiktoken's cl100k). The ceiling is
``encode_ordinary`` over the same documents: a token-aware chunker tokenizes at least once.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.common import Context, Row, Skipped, best_of
from bench.corpus import corpus, documents

SIZE, OVERLAP = 512, 64


def _sluice() -> Callable[[str], object]:
    from adapters.tiktoken.measure import TiktokenMeasure
    from domain.chunking import Chunker

    chunker = Chunker(TiktokenMeasure(), size=SIZE, overlap=OVERLAP)
    return chunker.chunk


def _tiktoken() -> Callable[[str], object]:
    from adapters.tiktoken.measure import encoding

    return encoding().encode_ordinary


def _chonkie() -> Callable[[str], object]:
    from chonkie import RecursiveChunker

    from adapters.tiktoken.measure import encoding

    # Token mode: sizes counted by the very same cl100k encoding. chonkie's
    # RecursiveChunker has no overlap option (its OverlapRefinery is a separate pass).
    return RecursiveChunker(tokenizer=encoding(), chunk_size=SIZE).chunk


def _semchunk() -> Callable[[str], object]:
    import semchunk

    from adapters.tiktoken.measure import encoding

    chunker = semchunk.chunkerify(encoding(), chunk_size=SIZE)
    return lambda text: chunker(text, overlap=OVERLAP)


def _langchain() -> Callable[[str], object]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from adapters.tiktoken.measure import ENCODING_NAME

    splitter = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=ENCODING_NAME, chunk_size=SIZE, chunk_overlap=OVERLAP
    )
    return splitter.split_text


def _semantic_text_splitter() -> Callable[[str], object]:
    from semantic_text_splitter import TextSplitter

    splitter = TextSplitter.from_tiktoken_model("gpt-3.5-turbo", (SIZE, SIZE), overlap=OVERLAP)
    return splitter.chunks


CEILING = "tiktoken encode_ordinary (ceiling)"
SLUICE = "sluice Chunker"
CHONKIE = "chonkie RecursiveChunker"
CHUNKERS: dict[str, Callable[[], Callable[[str], object]]] = {
    CEILING: _tiktoken,
    SLUICE: _sluice,
    CHONKIE: _chonkie,
    "semchunk": _semchunk,
    "langchain from_tiktoken_encoder": _langchain,
    "semantic-text-splitter": _semantic_text_splitter,
}


def throughputs(
    docs: list[str], repeat: int, names: list[str] | None = None, before_each: Callable[[], object] | None = None
) -> dict[str, float]:
    """MB/s of each chunker over ``docs``; a chunker whose package is missing is left out.

    Runs are interleaved (every chunker once per round) and the best round is kept, so
    load from other processes on the machine hits every chunker alike. ``before_each``
    runs before every timed pass (Sluice's process-wide memo of short texts is emptied).
    """
    megabytes = sum(len(d.encode()) for d in docs) / 1e6
    makers = {name: make for name, make in CHUNKERS.items() if names is None or name in names}
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, make in list(makers.items()):
            # A fresh chunker per round: no chunker's own memo (semchunk caches its token
            # counts) gains from having seen the same documents in the round before.
            try:
                fn = make()
            except ImportError:
                del makers[name]
                continue
            fn(docs[0][:2000])  # warm up (tokenizer load)
            if before_each is not None:
                before_each()

            def run(fn: Callable[[str], object] = fn) -> None:
                for doc in docs:
                    fn(doc)

            seconds = best_of(run, repeat=1)
            best[name] = min(best.get(name, seconds), seconds)
    return {name: megabytes / seconds for name, seconds in best.items()}


def run(ctx: Context) -> list[Row | Skipped]:
    from adapters.tiktoken.measure import remembered_counter

    text = corpus(0.3 if ctx.quick else 12.0)
    docs = documents(text, 3 if ctx.quick else 120, 100_000)
    names = [CEILING, SLUICE, CHONKIE] if ctx.quick else None  # --quick: no time to load every baseline
    speeds = throughputs(docs, repeat=1 if ctx.quick else 2, names=names, before_each=remembered_counter().cache_clear)
    ceiling = speeds[CEILING]
    ours = speeds[SLUICE]
    megabytes = sum(len(d.encode()) for d in docs) / 1e6
    scenario = "1 chunking 512/64 cl100k"
    rows: list[Row | Skipped] = [
        Row(scenario, name, speed, "MB/s", speed / ceiling, "tiktoken", note=f"{len(docs)} docs, {megabytes:.1f} MB")
        for name, speed in speeds.items()
        if name != SLUICE
    ]
    rows.insert(1, Row(scenario, SLUICE, ours, "MB/s", ours / ceiling, "tiktoken", 0.6, ">= 0.6x tiktoken"))
    if CHONKIE in speeds:
        rows.insert(2, Row(scenario, f"{SLUICE} vs chonkie", ours, "MB/s", ours / speeds[CHONKIE], "chonkie", 1.0,
                           ">= 1.0x chonkie"))  # fmt: skip
    rows += [
        Skipped(scenario, f"{name}: not installed (uv sync --group bench)")
        for name in (names or CHUNKERS)
        if name not in speeds
    ]
    return rows
