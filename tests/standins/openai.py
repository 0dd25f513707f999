"""A stand-in for OpenAI's embeddings endpoint (``POST /v1/embeddings``).

It enforces what the real API enforces and an embedder must respect: a known model and a
valid key, at most 2048 inputs per request, no empty input, no input over 8192 tokens and
at most 300,000 tokens per request (counted with cl100k, as OpenAI does), ``dimensions``
only on text-embedding-3 models. Vectors are deterministic (the hashing embedder at the
requested dimension), answered as floats or base64 float32 as the request asks.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import numpy as np

from adapters.hashing.embedder import HashingEmbedder
from adapters.tiktoken.measure import encoding
from standins.http import Reply, Request, StandIn

MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000


def _error(status: int, message: str, code: str | None, kind: str = "invalid_request_error") -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


class OpenAIStandIn(StandIn):
    def __init__(self, api_key: str = "sk-test", models: dict[str, int] | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = dict(MODELS if models is None else models)
        self.embedded_inputs = 0
        self.embedded_tokens = 0
        self.batches: list[tuple[int, int]] = []  # (inputs, tokens) of each request answered
        self._embedders: dict[int, HashingEmbedder] = {}
        self._embed_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def embedding_requests(self) -> list[Request]:
        return self.calls("/v1/embeddings")

    def route(self, request: Request) -> tuple[int, Any]:
        if request.method != "POST" or request.path != "/v1/embeddings":
            raise _error(404, f"Invalid URL ({request.method} {request.path})", None)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            raise _error(
                401, "Incorrect API key provided. You can find your API key in your account.", "invalid_api_key"
            )
        body = request.body if isinstance(request.body, dict) else {}
        model = body.get("model")
        if model not in self.models:
            raise _error(404, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found")
        texts = self._inputs(body.get("input"))
        counts = [len(encoding().encode_ordinary(t)) for t in texts]
        for i, n in enumerate(counts):
            if n > MAX_INPUT_TOKENS:
                raise _error(
                    400,
                    f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested "
                    f"{n} tokens (input {i}). Please reduce your prompt.",
                    None,
                )
        total = sum(counts)
        if total > MAX_REQUEST_TOKENS:
            raise _error(
                400, f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request", "max_tokens_per_request"
            )
        dims = self._dimensions(model, body.get("dimensions"))
        vectors = self._embed(texts, dims)
        fmt = body.get("encoding_format", "float")
        data = []
        for i, vec in enumerate(vectors):
            if fmt == "base64":
                value: Any = base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode()
            else:
                value = [float(x) for x in vec]
            data.append({"object": "embedding", "index": i, "embedding": value})
        with self._embed_lock:
            self.embedded_inputs += len(texts)
            self.embedded_tokens += total
            self.batches.append((len(texts), total))
        return 200, {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }

    def _inputs(self, raw: Any) -> list[str]:
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise _error(400, "'$.input' is invalid. Please check the API reference.", None)
        if len(texts) > MAX_INPUTS:
            raise _error(400, f"'$.input' is too long: {len(texts)} inputs, at most {MAX_INPUTS}", None)
        if any(t == "" for t in texts):
            raise _error(400, "'$.input' is invalid: an input is empty.", None)
        return texts

    def _dimensions(self, model: str, requested: Any) -> int:
        native = self.models[model]
        if requested is None:
            return native
        if not model.startswith("text-embedding-3"):
            raise _error(400, "This model does not support specifying dimensions.", None)
        if not isinstance(requested, int) or not 1 <= requested <= native:
            raise _error(400, f"Invalid value for 'dimensions': {requested}.", None)
        return requested

    def _embed(self, texts: list[str], dims: int) -> list[list[float]]:
        with self._embed_lock:
            embedder = self._embedders.setdefault(dims, HashingEmbedder(dimensions=dims))
        vectors = [list(v) for v in embedder.embed_sync(texts).vectors]
        # A text without words hashes to zero; a real model never answers a zero vector.
        for vec in vectors:
            if not any(vec):
                vec[0] = 1.0
        return vectors
