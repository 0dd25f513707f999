"""Command line (placeholder until the CLI lands)."""


def main() -> None:
    raise SystemExit("sluice: not built yet")
