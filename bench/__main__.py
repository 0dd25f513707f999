"""``python -m bench [scenario ...] [--quick]``: run the benchmarks, print the table.

A full run of every scenario also rewrites the table in ``docs/benchmarks.md`` (between
its markers; the analysis around it is kept). ``--quick`` runs every scenario on tiny
inputs, only to prove the harness works (CI's smoke test); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.common import Context, Row, Skipped, machine


def _scenarios() -> dict[str, Callable[[Context], list[Row | Skipped]]]:
    from bench import chunking, extraction, ingest, load, memory, queue, search

    return {
        "chunking": chunking.run,
        "pdf": extraction.run_pdf,
        "html": extraction.run_html,
        "queue": queue.run,
        "ingest": ingest.run,
        "search": search.run,
        "memory": memory.run,
        "load": load.load_test,
    }


DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row], skipped: list[Skipped]) -> str:
    lines = [
        "| scenario | measurement | value | ratio | target | verdict | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}x {r.baseline}" if r.ratio is not None else ""
        value = f"{_fmt(r.value)} {r.unit}".strip()
        lines.append(f"| {r.scenario} | {r.what} | {value} | {ratio} | {r.target_text} | {r.verdict} | {r.note} |")
    for s in skipped:
        lines.append(f"| {s.scenario} | skipped | | | | | {s.reason} |")
    return "\n".join(lines)


def write_docs(text: str) -> None:
    if DOCS.exists() and BEGIN in (current := DOCS.read_text()) and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head = "# Benchmarks\n\nWritten by `uv run python -m bench` (see `bench/`).\n\n"
        tail = "\n"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    scenarios = _scenarios()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenario", nargs="*", choices=[*scenarios, []], help="scenarios to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny inputs: a smoke test of the harness")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--docs", help="folder of HTML documentation to build the corpus from")
    args = parser.parse_args(argv)
    # Terminated like an interrupt: the deployments' context managers stop their processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.docs:
        from bench import corpus

        corpus.DOCS = Path(args.docs)
    chosen = args.scenario or list(scenarios)
    ctx = Context(quick=args.quick)
    rows: list[Row] = []
    skipped: list[Skipped] = []
    failed = False
    started = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            got = scenarios[name](ctx)
        except Exception as exc:
            from bench.procs import Unavailable

            if isinstance(exc, Unavailable):
                skipped.append(Skipped(name, f"skipped: {exc}"))
            else:
                traceback.print_exc()
                skipped.append(Skipped(name, f"FAILED: {type(exc).__name__}: {exc}"))
                failed = True
            continue
        for item in got:
            (skipped if isinstance(item, Skipped) else rows).append(item)  # type: ignore[arg-type]
        print(f"   {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = " (--quick: tiny inputs, figures meaningless)" if args.quick else ""
    report = (
        f"Run {when}{mode}, {elapsed / 60:.1f} min, scenarios: {', '.join(chosen)}.\n\n"
        f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f}"
        " (the benchmark's own processes included).\n\n"
        f"{table(rows, skipped)}"
    )
    print(report)
    if not args.quick and not args.no_docs and not args.scenario:
        write_docs(report)
        print(f"\nwritten to {DOCS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
