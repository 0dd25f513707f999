"""Run the schemathesis CLI with ``ast.parse`` serialised across threads.

CPython 3.11.0-3.11.7 kept the AST converter's recursion depth in interpreter-wide
state, so two threads parsing at once could fail with ``SystemError: AST constructor
recursion depth mismatch`` (python/cpython#106905, fixed in 3.11.8). Hypothesis parses
lambda sources while describing strategies, and schemathesis runs ``--workers`` threads,
so on this machine's 3.11.7 the race surfaced as a schemathesis "Runtime Error" with
every case passing. A lock around ``ast.parse`` removes the race without giving up the
parallel workers.
"""

from __future__ import annotations

import ast
import sys
import threading

_lock = threading.Lock()
_parse = ast.parse


def _serialised_parse(*args, **kwargs):  # type: ignore[no-untyped-def]
    with _lock:
        return _parse(*args, **kwargs)


if sys.version_info < (3, 11, 8):
    ast.parse = _serialised_parse  # type: ignore[assignment]

from schemathesis.cli import schemathesis  # noqa: E402

if __name__ == "__main__":
    sys.exit(schemathesis())
