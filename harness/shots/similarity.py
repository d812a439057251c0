"""Similarity methods for the ``similar`` selector: rank pool texts against a query.

BM25 (via ``rank_bm25``) is the light default and needs nothing beyond numpy. Methods are
looked up by name in :data:`SIMILARITY_METHODS`, so an embedding method registers itself
without the selector changing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["SIMILARITY_METHODS", "BM25Index", "SimilarityIndex", "build_index", "tokenize"]

_TOKEN = re.compile(r"\w+", re.UNICODE)


class SimilarityIndex(Protocol):
    """Scores every document of a fixed corpus against a query (higher is more similar)."""

    def scores(self, query: str) -> Sequence[float]: ...


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens; digits are kept, since dates and numbers carry meaning."""
    return _TOKEN.findall(text.casefold())


class BM25Index:
    """Okapi BM25 over the pool's ``match_on`` texts."""

    def __init__(self, documents: Sequence[str]) -> None:
        from rank_bm25 import BM25Okapi  # numpy-based: imported when first needed

        tokens = [tokenize(d) or ["\u2205"] for d in documents]
        self._bm25 = BM25Okapi(tokens)

    def scores(self, query: str) -> Sequence[float]:
        return [float(x) for x in self._bm25.get_scores(tokenize(query))]


IndexFactory = Callable[[Sequence[str], "str | None"], SimilarityIndex]


def _embedding_index(documents: Sequence[str], model: str | None) -> SimilarityIndex:
    from harness.shots.embedding import EmbeddingIndex  # torch/transformers load on demand

    return EmbeddingIndex(documents, model)


SIMILARITY_METHODS: dict[str, IndexFactory] = {
    "bm25": lambda documents, _model: BM25Index(documents),
    "embedding": _embedding_index,
}


def build_index(method: str, documents: Sequence[str], model: str | None = None) -> SimilarityIndex:
    """Build the named similarity index over ``documents``."""
    try:
        factory = SIMILARITY_METHODS[method]
    except KeyError:
        known = ", ".join(sorted(SIMILARITY_METHODS))
        raise ValueError(f"unknown similarity method {method!r} (known: {known})") from None
    return factory(documents, model)
