"""All tunable configuration in one frozen object, with environment overrides, so every entry point agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InputError

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
RETRIEVAL_MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("cc", "rrf")
# How the dense vectors are searched (qa/index.py, `dense_kind`): "auto" picks exact search up to
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
    # Retrieval.
    top_k: int = 5
    mode: str = "hybrid"
    candidates: int = 50
    # How the dense and lexical rankings are fused in hybrid mode: "cc" (convex combination of the
    # scores, each standardized over its own candidate list) or "rrf" (reciprocal rank fusion).
    # Measured on eval/dev.jsonl (README, 'Fusion'): cc ranks best on both languages.
    fusion: str = "cc"
    # cc: the lexical share of the fused score is lexical_weight_max × the share of the question's
    # content words that the articles contain as spelt (or with a typo fixed). BM25 only sees those
    # words: an English question matches few of them, so dense retrieval leads; a French one most.
    lexical_weight_max: float = 0.6
    # rrf: Σ weight / (rrf_k + rank); the lexical ranking's weight depends on the question's language
    # (BM25 runs over French text; an English question only shares names and translated words with it).
    rrf_k: int = 60
    lexical_weight_fr: float = 2.0
    lexical_weight_en: float = 1.0
    # In a French question, a word at least this common in French (wordfreq Zipf) is spelt right: it is
    # not "corrected" to the closest corpus spelling ("ministre" ≠ "ministère"). None: always corrected.
    known_word_zipf: float | None = 3.0
    # A question word absent from the articles is matched to the nearest corpus word at this cosine or more.
    bridge_threshold: float = 0.92
    # English question words missing from the articles are first looked up in the English → French
    # glossary (qa.glossary); a translation the articles use is matched when its embedding is at
    # least this close to the English word's (README, 'How it works', step 6).
    use_glossary: bool = True
    # Bodies a question describes without naming them ("la plus haute juridiction administrative": the
    # Conseil d'État) join its BM25 terms from a who-is-who table (qa.entities, qa/data/entities.tsv),
    # and a name few passages hold joins its embedding.
    use_entities: bool = True
    glossary_threshold: float = 0.87
    # A translation that the n passages nearest the question use needs only this cosine (n = 0: none does).
    glossary_context_passages: int = 20
    glossary_context_threshold: float = 0.82
    # Dense scores become cosine − discount × the passage's mean cosine with its hub_neighbours nearest
    # fellow candidates, so that generic passages close to everything ("hubs") stop outranking the
    # one that answers (qa.retrieve.discount_hubs). Measured on English questions; none for French.
    hub_discount_en: float = 0.6
    hub_discount_fr: float = 0.0
    hub_neighbours: int = 25
    # Added to the fused score of passages holding the kind of answer asked for (date, number, person,
    # reason, name), times ln(candidates / candidates holding it): in standard deviations for cc, in
    # reciprocal-rank units for rrf. Over the six sets, cc's flat 0.2 → weighted 0.4 moved seven
    # questions up (most of them "pourquoi/why": a cause is in a fifth of the passages) and one down;
    # rrf's was not re-tuned for the weighting.
    answer_type_boost: float = 0.4
    # For "Quels hôpitaux… / Which law firm…", a passage holds the answer when it names something the
    # question does not, that fewer than this share of passages name.
    name_max_share: float = 0.1
    rrf_answer_type_boost: float = 0.004
    # Question length limit (characters, after normalization).
    max_question_chars: int = 1000
    # Sentences quoted in the answer at most, and how far below the best passage's cosine another may be.
    answer_sentences: int = 3
    answer_margin: float = 0.03
    # Abstention (see README, 'Abstention'): the best passage's cosine must reach min_dense_score,
    # at least min_term_coverage of the question's content words must occur in the articles (a third:
    # "What is the boiling point of water?" shares only "point"), and one top passage must hold
    # min_passage_coverage of the question's IDF weight. Over the four evaluation sets (273 questions)
    # the lowest cosine of an answerable French question is 0.829; 0.81 refuses "Quel temps fera-t-il
    # à Lyon demain ?" (0.803), as 0.82 would, and keeps a margin for phrasings not seen yet.
    min_dense_score: float = 0.81
    # An English question over French articles: cross-lingual cosines run lower. Swept over the three
    # evaluation sets together (223 questions): 0.76 / 0.77 / 0.78 give abstention 0.54 / 0.54 / 0.59
    # and false abstention 0.034 / 0.040 / 0.051; 0.77 keeps false abstention under 0.05.
    min_dense_score_en: float = 0.77
    min_term_coverage: float = 0.34
    min_passage_coverage: float = 0.30
    # ... and a question with words the articles lack needs a top passage sharing one of its specific
    # words: in fewer than this share of all passages (the same result from 0.15 to 0.25 on the dev set).
    require_specific_overlap: bool = True
    specific_term_max_share: float = 0.20
    # ... and a "how many X / combien de X" question needs a top passage with a number just before X.
    require_count: bool = True
    # ... and a question about a price, cost, budget or salary needs a top passage with an amount of money.
    require_amount: bool = True
    # ... and a question asking who holds a role in a body ("Qui préside la CNIL ?", "Who heads X?") needs
    # a top passage naming a role next to that body: "le président d'ISOC" does not say who presides the CNIL.
    require_role: bool = True
    # ... and one asking when a body was created or ruled ("In what year was the CNIL founded?", "Quand le
    # Conseil d'État rendra-t-il sa décision ?") a top passage reporting that event within four words of it.
    require_event: bool = True
    # Dense index structure (see INDEX_TYPES). Exact search costs about 11 ms per 100k passages per
    # query on one core here; bench/README.md puts the switch to IVF at 250k passages, where IVF keeps
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
        from .store import check_store

        check_store(self.store)
        if self.mode not in RETRIEVAL_MODES:
            raise InputError(f"unknown retrieval mode {self.mode!r}: choose one of {', '.join(RETRIEVAL_MODES)}")
        if self.fusion not in FUSIONS:
            raise InputError(f"unknown fusion {self.fusion!r}: choose one of {', '.join(FUSIONS)}")
        if not 0 <= self.lexical_weight_max <= 1:
            raise InputError(f"lexical_weight_max must be between 0 and 1, got {self.lexical_weight_max}")
        if self.hub_neighbours < 1 or self.hub_discount_en < 0 or self.hub_discount_fr < 0:
            raise InputError("hub_neighbours must be ≥ 1 and the hub discounts ≥ 0")
        if self.glossary_context_passages < 0:
            raise InputError(f"glossary_context_passages must be ≥ 0, got {self.glossary_context_passages}")
        if self.rrf_k < 0 or self.candidates < 1:
            raise InputError("rrf_k must be ≥ 0 and candidates ≥ 1")
        if not 1 <= self.top_k <= 100:
            raise InputError(f"-k must be between 1 and 100, got {self.top_k}")
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
        if not 0.0 < self.name_max_share <= 1.0 or self.answer_type_boost < 0 or self.rrf_answer_type_boost < 0:
            raise InputError("name_max_share must be in (0, 1] and the answer-type boosts ≥ 0")

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
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

    def with_(self, **changes) -> "Settings":
        """A copy with the fields given changed and validated again; None is a value like any other
        (`known_word_zipf=None` turns the known-word guard off)."""
        return replace(self, **changes)

    def index_params(self) -> dict:
        """The settings that shape the stored index; a change to any of them makes the index stale."""
        return {"model": self.model, "passage_max_chars": self.passage_max_chars, "embed_context": self.embed_context}
