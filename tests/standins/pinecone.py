"""A stand-in for a Pinecone serverless index (data plane) and ``describe_index`` (control plane).

It enforces what the real service enforces and an adapter must respect: ASCII ids of at
most 512 characters; one dimension for the whole index; no all-zero vector under the
cosine metric; at most 1,000 vectors and 2 MB per upsert request; metadata values that
are strings, numbers, booleans or lists of strings (nulls are dropped, as the service
does; nested objects refused), at most 40 KB of metadata per vector; at most 1,000 ids
per delete; pages of at most 100 ids when listing; ``top_k`` at most 10,000, and 1,000
with metadata. Numbers come back as floats (Pinecone stores them as doubles).

Where the real service is eventually consistent (counts, listing), the stand-in is
exact. An index created without a ``dimension`` takes the one of its first vectors, as
if it had been created with it; a zero query vector is refused (the adapter never sends
one). Deleting by metadata filter is refused: Sluice must not rely on it.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from typing import Any
from urllib.parse import unquote

import numpy as np

from standins.http import Reply, Request, StandIn

MAX_UPSERT_VECTORS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_DELETE_IDS = 1000
MAX_LIST_LIMIT = 100
MAX_TOP_K = 10_000
MAX_TOP_K_WITH_DATA = 1000


def _bad(message: str, status: int = 400, code: int = 3) -> Reply:
    return Reply(status, {"code": code, "message": message, "details": []})


class PineconeStandIn(StandIn):
    def __init__(self, api_key: str = "pc-test", index_name: str = "sluice", dimension: int | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.index_name = index_name
        self.dimension = dimension
        self.namespaces: dict[str, dict[str, tuple[np.ndarray, dict[str, Any]]]] = {}
        self._data = threading.Lock()

    def ids(self, namespace: str) -> list[str]:
        with self._data:
            return sorted(self.namespaces.get(namespace, {}))

    def route_sized(self, request: Request, size: int) -> tuple[int, Any]:
        if request.headers.get("api-key") != self.api_key:
            raise Reply(401, {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401})
        body = request.body if isinstance(request.body, dict) else {}
        path, method = request.path, request.method
        with self._data:
            if method == "GET" and path.startswith("/indexes/"):
                return self._describe_index(unquote(path.removeprefix("/indexes/")))
            if method == "POST" and path == "/vectors/upsert":
                return self._upsert(body, size)
            if method == "POST" and path == "/query":
                return self._query(body)
            if method == "GET" and path == "/vectors/list":
                return self._list(request.query)
            if method == "POST" and path == "/vectors/delete":
                return self._delete(body)
            if method == "POST" and path == "/describe_index_stats":
                return self._stats()
            if method == "DELETE" and path.startswith("/namespaces/"):
                return self._delete_namespace(unquote(path.removeprefix("/namespaces/")))
        raise _bad(f"no route {method} {path}", 404, 5)

    # -- control plane ------------------------------------------------------------------

    def _describe_index(self, name: str) -> tuple[int, Any]:
        if name != self.index_name:
            raise Reply(404, {"error": {"code": "NOT_FOUND", "message": f"Resource {name} not found"}, "status": 404})
        field = {"type": "dense_vector", "dimension": self.dimension or 0, "metric": "cosine"}
        return 200, {
            "name": name,
            "host": self.url,
            "deletion_protection": "disabled",
            "status": {"ready": True, "state": "Ready"},
            "schema": {"fields": {"values": field}},
            "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
        }

    # -- data plane -----------------------------------------------------------------------

    def _upsert(self, body: dict[str, Any], size: int) -> tuple[int, Any]:
        if size > MAX_REQUEST_BYTES:
            raise _bad(f"Request size {size / 2**20:.2f}MB exceeds the maximum supported size of 2MB", 413)
        vectors = body.get("vectors") or []
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise _bad(f"Vector count {len(vectors)} exceeds the maximum of {MAX_UPSERT_VECTORS} per request")
        namespace = body.get("namespace") or "__default__"
        dimension = self.dimension
        prepared = []
        for vector in vectors:
            vid, values = vector.get("id"), vector.get("values") or []
            if not isinstance(vid, str) or not vid or len(vid) > 512 or not vid.isascii():
                raise _bad(f"Invalid vector id {vid!r}: ids are 1-512 ASCII characters")
            if not values or not all(isinstance(x, int | float) and math.isfinite(x) for x in values):
                raise _bad(f"Vector {vid} has no values or non-finite ones")
            if not any(values):
                raise _bad(f"Dense vectors must contain at least one non-zero value (vector {vid})")
            dimension = dimension or len(values)
            if len(values) != dimension:
                raise _bad(f"Vector dimension {len(values)} does not match the dimension of the index {dimension}")
            prepared.append((vid, np.asarray(values, dtype=np.float32), self._metadata(vid, vector.get("metadata"))))
        self.dimension = dimension
        stored = self.namespaces.setdefault(namespace, {})
        for vid, values, metadata in prepared:
            stored[vid] = (values, metadata)
        return 200, {"upsertedCount": len(prepared)}

    def _metadata(self, vid: str, metadata: Any) -> dict[str, Any]:
        if metadata is None:
            return {}
        if not isinstance(metadata, dict):
            raise _bad(f"Metadata of vector {vid} must be an object")
        kept: dict[str, Any] = {}
        for key, value in metadata.items():
            if value is None:
                continue  # the service drops nulls
            if isinstance(value, bool | str):
                kept[key] = value
            elif isinstance(value, int | float):
                kept[key] = float(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                kept[key] = list(value)
            else:
                shown = json.dumps(value)[:100]
                raise _bad(
                    f"Metadata value must be a string, number, boolean or list of strings, got '{shown}' "
                    f"for field '{key}'"
                )
        encoded = len(json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode())
        if encoded > MAX_METADATA_BYTES:
            raise _bad(
                f"Metadata size is {encoded} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector"
            )
        return kept

    def _query(self, body: dict[str, Any]) -> tuple[int, Any]:
        top_k = body.get("topK")
        with_data = body.get("includeMetadata") or body.get("includeValues")
        if not isinstance(top_k, int) or not 1 <= top_k <= (MAX_TOP_K_WITH_DATA if with_data else MAX_TOP_K):
            raise _bad(f"Invalid topK {top_k}")
        vector = np.asarray(body.get("vector") or [], dtype=np.float64)
        if self.dimension is not None and len(vector) != self.dimension:
            raise _bad(
                f"Query vector dimension {len(vector)} does not match the dimension of the index {self.dimension}"
            )
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            raise _bad("Query vector must contain at least one non-zero value")
        namespace = body.get("namespace") or "__default__"
        flt = body.get("filter")
        scored = []
        for vid, (values, metadata) in self.namespaces.get(namespace, {}).items():
            if flt is not None and not _matches(metadata, flt):
                continue
            score = float(values.astype(np.float64) @ vector / (np.linalg.norm(values) * norm))
            scored.append((score, vid, values, metadata))
        scored.sort(key=lambda item: (-item[0], item[1]))
        matches = []
        for score, vid, values, metadata in scored[:top_k]:
            match: dict[str, Any] = {"id": vid, "score": score, "values": []}
            if body.get("includeValues"):
                match["values"] = values.tolist()
            if body.get("includeMetadata"):
                match["metadata"] = metadata
            matches.append(match)
        return 200, {"matches": matches, "namespace": namespace, "usage": {"readUnits": 5}}

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        namespace = (query.get("namespace") or [""])[0] or "__default__"
        prefix = (query.get("prefix") or [""])[0]
        limit = int((query.get("limit") or [MAX_LIST_LIMIT])[0])
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise _bad(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        after = ""
        if query.get("paginationToken"):
            after = base64.urlsafe_b64decode(query["paginationToken"][0]).decode()
        ids = sorted(i for i in self.namespaces.get(namespace, {}) if i.startswith(prefix) and i > after)
        page: dict[str, Any] = {"vectors": [{"id": i} for i in ids[:limit]], "namespace": namespace}
        if len(ids) > limit:
            page["pagination"] = {"next": base64.urlsafe_b64encode(ids[limit - 1].encode()).decode()}
        page["usage"] = {"readUnits": 1}
        return 200, page

    def _delete(self, body: dict[str, Any]) -> tuple[int, Any]:
        namespace = body.get("namespace") or "__default__"
        if body.get("filter") is not None:
            raise _bad("Deleting by metadata filter is not supported on this index", 400, 9)
        stored = self.namespaces.get(namespace, {})
        if body.get("deleteAll"):
            stored.clear()
            return 200, {}
        ids = body.get("ids") or []
        if len(ids) > MAX_DELETE_IDS:
            raise _bad(f"Cannot delete more than {MAX_DELETE_IDS} ids in one request, got {len(ids)}")
        for vid in ids:
            stored.pop(vid, None)
        return 200, {}

    def _stats(self) -> tuple[int, Any]:
        counts = {ns: len(vectors) for ns, vectors in self.namespaces.items() if vectors}
        return 200, {
            "namespaces": {ns: {"vectorCount": n} for ns, n in counts.items()},
            "dimension": self.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(counts.values()),
            "metric": "cosine",
            "vectorType": "dense",
        }

    def _delete_namespace(self, namespace: str) -> tuple[int, Any]:
        if not self.namespaces.get(namespace):
            self.namespaces.pop(namespace, None)
            raise _bad(f"Namespace {namespace} not found", 404, 5)
        del self.namespaces[namespace]
        return 202, {}


def _matches(metadata: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, condition in flt.items():
        if key == "$and":
            if not all(_matches(metadata, part) for part in condition):
                return False
            continue
        if key == "$or":
            if not any(_matches(metadata, part) for part in condition):
                return False
            continue
        value = metadata.get(key)
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        for op, operand in ops.items():
            if op == "$eq":
                ok = value == operand or (isinstance(value, list) and operand in value)
            elif op == "$ne":
                ok = value != operand
            elif op == "$in":
                if len(operand) > 10_000:
                    raise _bad("$in takes at most 10,000 values")
                ok = value in operand or (isinstance(value, list) and any(v in operand for v in value))
            elif op == "$nin":
                ok = value not in operand
            else:
                raise _bad(f"unsupported filter operator {op}")
            if not ok:
                return False
    return True
