"""Sluice: turn an agent's knowledge sources into searchable vectors, as tracked jobs.

The library entry point is :class:`Sluice` (see ``entrypoints.library``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from entrypoints.library import Sluice


def __getattr__(name: str) -> Any:
    # Lazy, so `import sluice` for the version does not build the whole service.
    if name == "Sluice":
        from entrypoints.library import Sluice

        return Sluice
    raise AttributeError(name)


__all__ = ["Sluice", "__version__"]
