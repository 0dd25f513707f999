"""Token measure backed by tiktoken's cl100k encoding (bundled, loaded offline)."""

from adapters.tiktoken.measure import TiktokenMeasure

__all__ = ["TiktokenMeasure"]
