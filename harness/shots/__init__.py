"""Few-shot example selection."""

from harness.shots.selectors import ShotSelector, build_selector, normalise_text, select_shots
from harness.shots.similarity import SIMILARITY_METHODS, BM25Index, SimilarityIndex, build_index

__all__ = [
    "SIMILARITY_METHODS",
    "BM25Index",
    "ShotSelector",
    "SimilarityIndex",
    "build_index",
    "build_selector",
    "normalise_text",
    "select_shots",
]
