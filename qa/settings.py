"""All tunable configuration in one frozen object, with environment overrides, so every entry point agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InputError
from .urls import check_store

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
RETRIEVAL_MODES = ("hybrid", "dense", "lexical", "rrf")
# How the dense vectors are searched (qa/dense.py, `dense_kind`): "auto" picks exact search up to
# `flat_max_passages` and IVF above it; the others force one structure.
INDEX_TYPES = ("auto", "flat", "ivf", "hnsw")
# Two cores here: torch with 2 threads embeds a question in 12 ms, with 1 in 17-20 ms (bench/README.md).
# More threads than cores only adds contention, so the count follows the machine, up to 4.
DEFAULT_TORCH_THREADS = max(1, min(os.cpu_count() or 1, 4))


@dataclass(frozen=True)
class Settings:
    """Paths, model and the knobs of chunking, retrieval and abstention.

    Fields that change what is stored in the index (model, chunking) are recorded in its manifest,
    so changing one of them makes the index stale instead of silently mixing two configurations.
    """

    corpus_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    model: str = DEFAULT_MODEL
    # Where the passages live: None = the embedded index in index_dir; a `postgresql://…` URL =
    # PostgreSQL + pgvector (qa.pgstore). From --store or $QA_STORE; anything else is refused (a mistyped
    # URL must not fall back to the index folder). Not in repr: the URL may hold a password.
    store: str | None = field(default=None, repr=False)
    # PostgreSQL's lexical ranking: "bm25" (computed in SQL from stored term statistics, the same
    # formula as the embedded store) or "fts" (PostgreSQL's French full-text search, ts_rank).
    # Measured on eval/dev.jsonl (README, 'PostgreSQL store'): bm25 ranks better, so it is the default.
    pg_lexical: str = "bm25"
    # pgvector's hnsw.ef_search for dense search in PostgreSQL (at least the number of candidates).
    # Measured (bench/pg.py --sweep, 100k clustered vectors): recall@10 0.76 at 100, 0.94 at 400 (p50 5 ms).
    pg_ef_search: int = 400
    # Chunking: passages are whole sentences packed up to this many characters.
    passage_max_chars: int = 400
    # What is embedded besides the passage: "none", "title" or "title+heading" (see index.embedding_text).
    embed_context: str = "none"
    # Answering: passages cited, and how they are ranked: "hybrid" (the learned ranker), or one of the
    # plain baselines every evaluation reports beside it ("dense", "lexical", "rrf").
    top_k: int = 5
    mode: str = "hybrid"
    max_question_chars: int = 1000
    # Sentences quoted in an answer, best first (the quoter's order). Measured leave-one-corpus-out on the
    # tune corpora, the gold sentence is among the first 1 / 2 / 3 / 4 quoted in 0.59 / 0.71 / 0.77 / 0.82
    # of answerable questions: three keeps an answer short enough to read.
    answer_sentences: int = 3
    # The learned models (written by `qa train`): passage ranker, answerability, sentence quoter.
    ranker_model: Path = Path(__file__).parent / "data" / "ranker.json"
    abstain_model: Path = Path(__file__).parent / "data" / "abstain.json"
    quote_model: Path = Path(__file__).parent / "data" / "quoter.json"
    # Answerability probability below which the answer says the articles do not answer; None: the
    # operating point stored in the abstention model (chosen by `qa train` for <= 5 % false refusals).
    min_confidence: float | None = None
    # Dense index: "auto" uses exact search up to `flat_max_passages` and IVF above, with nprobe chosen for
    # a measured recall@10 >= `index_target_recall` against exact search at a fraction of the time.
    index_type: str = "auto"
    flat_max_passages: int = 250_000
    index_target_recall: float = 0.95
    # Open dense.faiss and embeddings.npy memory-mapped: the OS page cache holds them once (shared by
    # every process serving the same index) instead of a private copy per process.
    index_mmap: bool = True
    # Threads: torch's for the embedding forward pass, FAISS's for one search (one query gains nothing
    # from OpenMP here: Flat at 1M took 151 ms with 2 threads, 114 ms with 1).
    torch_threads: int = DEFAULT_TORCH_THREADS
    search_threads: int = 1

    def __post_init__(self) -> None:
        check_store(self.store)
        if self.mode not in RETRIEVAL_MODES:
            raise InputError(f"unknown retrieval mode {self.mode!r}: choose one of {', '.join(RETRIEVAL_MODES)}")
        if not 1 <= self.top_k <= 100:
            raise InputError(f"-k must be between 1 and 100, got {self.top_k}")
        if not 1 <= self.answer_sentences <= 10:
            raise InputError(f"answer_sentences must be between 1 and 10, got {self.answer_sentences}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise InputError(f"min_confidence must be between 0 and 1, got {self.min_confidence}")
        if self.pg_lexical not in ("bm25", "fts"):
            raise InputError(f"unknown PostgreSQL lexical ranking {self.pg_lexical!r}: choose bm25 or fts")
        if self.passage_max_chars < 50:
            raise InputError("passage_max_chars must be at least 50")
        if self.index_type not in INDEX_TYPES:
            raise InputError(f"unknown index type {self.index_type!r}: choose one of {', '.join(INDEX_TYPES)}")
        if self.flat_max_passages < 0 or not 0.0 < self.index_target_recall <= 1.0:
            raise InputError("flat_max_passages must be >= 0 and index_target_recall in (0, 1]")
        if self.torch_threads < 1 or self.search_threads < 1:
            raise InputError("thread counts must be at least 1")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Defaults, then `QA_CORPUS`, `QA_INDEX`, `QA_MODEL`, `QA_STORE`, `QA_PG_LEXICAL`, `QA_INDEX_TYPE`,
        `QA_INDEX_MMAP`, `QA_TORCH_THREADS` from the environment, then explicit overrides (None ignored)."""
        env = {
            "corpus_dir": os.environ.get("QA_CORPUS"),
            "index_dir": os.environ.get("QA_INDEX"),
            "model": os.environ.get("QA_MODEL"),
            "store": os.environ.get("QA_STORE"),
            "pg_lexical": os.environ.get("QA_PG_LEXICAL"),
            "index_type": os.environ.get("QA_INDEX_TYPE"),
        }
        values: dict = {k: v for k, v in env.items() if v}
        if os.environ.get("QA_INDEX_MMAP"):
            flag = os.environ["QA_INDEX_MMAP"].strip().lower()
            if flag not in ("1", "true", "yes", "on", "0", "false", "no", "off"):  # a typo must not pass for "on"
                raise InputError(f"QA_INDEX_MMAP must be 1 or 0 (true/false, yes/no, on/off), got {os.environ['QA_INDEX_MMAP'][:40]!r}")
            values["index_mmap"] = flag in ("1", "true", "yes", "on")
        if os.environ.get("QA_TORCH_THREADS"):
            try:
                values["torch_threads"] = int(os.environ["QA_TORCH_THREADS"])
            except ValueError:
                raise InputError(f"QA_TORCH_THREADS must be a whole number, got {os.environ['QA_TORCH_THREADS']!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("corpus_dir", "index_dir"):
            if key in values:
                values[key] = Path(values[key])
        return cls(**values)

    def with_(self, **changes) -> Settings:
        """A copy with the fields given changed and validated again; None is a value like any other
        (`known_word_zipf=None` turns the known-word guard off)."""
        return replace(self, **changes)

    def index_params(self) -> dict:
        """The settings that shape the stored index; a change to any of them makes the index stale."""
        return {"model": self.model, "passage_max_chars": self.passage_max_chars, "embed_context": self.embed_context}
