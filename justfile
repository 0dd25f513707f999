# Sluice developer recipes (https://github.com/casey/just). Each is a thin alias for a
# `uv run` command, so everything also works without just.

default:
    @just --list

# API with its integrated worker (embedded mode unless DATABASE_URL / REDIS_HOST are set)
serve *ARGS:
    uv run sluice serve {{ARGS}}

# A separate worker process (distributed mode)
worker *ARGS:
    uv run sluice worker {{ARGS}}

# The whole test suite
test *ARGS:
    uv run pytest {{ARGS}}

# ruff and mypy
lint:
    uv run ruff check src tests bench
    uv run ruff format --check src tests bench
    uv run mypy

# Benchmarks against the named baselines (needs `uv sync --group bench`)
bench *ARGS:
    uv run --group bench python -m bench {{ARGS}}

# Create or upgrade the database schema
migrate:
    uv run sluice migrate

# What CI runs
ci:
    .ci/run
