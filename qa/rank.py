"""Ranking: candidate passages from dense and lexical search, general features for each, and a small
learned linear model that orders them.

Candidates are the union of the nearest passages by cosine, the best by BM25 on the question's own
terms, and the best by BM25 on its dictionary translations. Every feature is general — the
passage's cosine and its gap to the best, its hubness (CSLS), the IDF-weighted share of the
question's words and the share of the names and numbers it gives that the passage holds, whether
it is in the question's language, and the same read with the article's headline (the title's
cosine, the cosine of the mean of passage and title vectors, the share of the question's words the
passage and title hold together: "the company" in a passage is the one its headline names) — and
their weights are learned on the tune corpora (`qa train`, qa/data/ranker.json). The plain
baselines (dense, lexical, rrf) are kept as modes so every report shows the gain over them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import IndexStateError
from .query import Query
from .records import Hit, Passage
from .settings import Settings
from .store import StoreView
from .text import terms

# The ranker's features, each kept for its leave-one-corpus-out gain on the eight tune corpora (macro
# hit@1 0.694 with the first six; 0.722 with the article title's cosine and the cosine of the mean of the
# passage's and its title's vectors, which tell which article "the company" or "she" belongs to; 0.745
# with the share of the question's words held by the passage and its title together). Dropped because they added nothing there (within ±0.01 hit@1, often
# below): BM25 on the question's own terms or on its translations (they still bring candidates),
# the best sentence's cosine and its gap, whether the passage holds the kind of answer asked, a
# byline flag, a passage's neighbours' cosine, its length, being an article's lead.
FEATURES = ("cos", "cos_gap", "hub", "coverage", "names_coverage", "same_language", "title_cos", "title_mix",
            "title_coverage")
MODEL_PATH = Path(__file__).parent / "data" / "ranker.json"
MODEL_FORMAT = "qa-linear-model"
MODEL_VERSION = 1
# Candidates taken from each list (dense, lexical, translated lexical) before re-ranking.
CANDIDATES_PER_LIST = 30
RRF_K = 60


@dataclass(frozen=True)
class LinearModel:
    """A logistic model over standardized features, read from a small versioned JSON file."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    extra: dict

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        # clipped: a far-off logit must give 0 or 1, not an overflow warning
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(x), -50.0, 50.0)))

    def to_json(self) -> dict:
        return {"format": MODEL_FORMAT, "version": MODEL_VERSION, "features": list(self.features),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, **self.extra}


def load_model(path: Path, features: tuple[str, ...]) -> LinearModel:
    """A model file written by `qa train`; IndexStateError if it is missing, corrupt or for other features."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != MODEL_FORMAT or data.get("version") != MODEL_VERSION:
            raise ValueError(f"format {data.get('format')!r} v{data.get('version')!r}")
        if tuple(data["features"]) != tuple(features):
            raise ValueError("it was trained on other features")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(features),) for a in arrays) or not np.all(np.isfinite(np.concatenate(arrays))):
            raise ValueError("bad coefficients")
        if not np.all(arrays[1] > 0) or not math.isfinite(float(data["intercept"])):
            raise ValueError("bad scale or intercept")
        threshold = data.get("threshold", 0.5)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError("its threshold is not a probability")
        extra = {k: v for k, v in data.items() if k not in ("format", "version", "features", "mean", "scale", "coef", "intercept")}
        return LinearModel(tuple(features), *arrays, float(data["intercept"]), extra)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexStateError(f"model file {path} is unusable ({exc}); retrain it with `qa train`") from None


def neutral_model(features: tuple[str, ...]) -> LinearModel:
    """A model that scores every example the same (all weights zero): what ranks before one is trained."""
    n = len(features)
    return LinearModel(tuple(features), np.zeros(n), np.ones(n), np.zeros(n), 0.0, {})


@lru_cache(maxsize=8)
def _cached_model(path: str, features: tuple[str, ...], mtime: float) -> LinearModel:
    return load_model(Path(path), features)


def model(path: Path, features: tuple[str, ...], ranker: Path | None = None) -> LinearModel:
    """A model file, read once (again when the file changes). With `ranker`, the model must have been
    trained with that ranker file (abstention and quoting read its scores), else IndexStateError."""
    path = Path(path)
    loaded = _cached_model(str(path), features, _mtime(path))
    expected = loaded.extra.get("ranker_sha256")
    if ranker is not None and expected is not None and expected != _digest(str(ranker), _mtime(Path(ranker))):
        raise IndexStateError(f"model file {path} was trained with another ranker than {ranker}; "
                              "retrain them together with `qa train`")
    return loaded


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1.0


@lru_cache(maxsize=8)
def _digest(path: str, mtime: float) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Candidate:
    """A candidate passage with its ranking features and where the searches placed it."""

    pid: int
    features: np.ndarray
    dense_rank: int | None
    dense_score: float
    lexical_rank: int | None
    lexical_score: float | None

    def feature(self, name: str) -> float:
        return float(self.features[FEATURES.index(name)])


@dataclass(frozen=True)
class Ranking:
    """Every candidate of a question, best first under the mode asked, with that mode's score of each and
    the learned ranker's logit of each (the same in the default mode): abstention and quoting were trained
    on the ranker's logits, so they read those whatever the mode."""

    candidates: tuple[Candidate, ...]
    scores: np.ndarray
    query_hubness: float   # mean cosine of the question with its nearest passages (CSLS's r_q)
    coverage_anywhere: float  # IDF-weighted share of question words found anywhere in the articles
    logits: np.ndarray     # the learned ranker's logit of each candidate, whatever the mode
    # The question words' terms and IDF weights (`word_weights`), computed once for ranking, abstention
    # and quoting.
    weights: tuple[tuple[frozenset[str], float], ...]
    # How many of the first candidates may be cited (None: all): the lexical baseline cites only passages
    # sharing a term with the question, though abstention still reads every candidate.
    citable: int | None = None

    def learned(self) -> Ranking:
        """This ranking in the learned ranker's order, scored by its logits (itself in the default mode)."""
        order = best_first(self.logits, [c.pid for c in self.candidates])
        if order == list(range(len(self.candidates))) and np.array_equal(self.logits, self.scores):
            return self
        logits = np.asarray(self.logits, dtype=np.float64)[order]
        return Ranking(tuple(self.candidates[i] for i in order), logits, self.query_hubness, self.coverage_anywhere,
                       logits, self.weights)


def best_first(scores, pids: list[int]) -> list[int]:
    """Positions of the candidates by decreasing score, the lower passage id first on a tie (deterministic)."""
    return sorted(range(len(pids)), key=lambda i: (-scores[i], pids[i]))


def idf(view: StoreView, term: str) -> float:
    """BM25's IDF of a term over the passages (0 for a term no passage holds)."""
    if not view.has_term(term):
        return 0.0
    n, df = view.n_passages, view.document_frequency(term)
    return math.log((n - df + 0.5) / (df + 0.5) + 1.0)


def word_weights(view: StoreView, query: Query) -> list[tuple[frozenset[str], float]]:
    """Each question word's terms and weight: the IDF of its rarest known term, or the highest IDF an
    unknown word could have (a word no article holds weighs as much as the rarest one)."""
    unseen = math.log(view.n_passages + 1.0)
    out = []
    for word in query.words:
        known = [idf(view, t) for t in word.own | word.translated if view.has_term(t)]
        out.append((word.own | word.translated, max(known) if known else unseen))
    return out


def coverage(passage_terms: set[str], weights: list[tuple[frozenset[str], float]]) -> float:
    """IDF-weighted share of question words that a passage holds (as spelt, stemmed or translated)."""
    total = sum(w for _t, w in weights)
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights if t & passage_terms) / total


def rank(view: StoreView, query: Query, settings: Settings, mode: str | None = None,
         keep: Callable[[Passage], bool] | None = None, ranker: LinearModel | None = None) -> Ranking:
    """Candidates for a question, scored and sorted best first, under the chosen mode; with `keep`, only
    passages it accepts are candidates (e.g. articles of a date window), searched for before ranking.
    `ranker` replaces the settings' ranker file (`qa train` ranks with a neutral one: the file may be
    of other features then)."""
    mode = mode or settings.mode
    n = max(CANDIDATES_PER_LIST, settings.top_k)
    dense = view.dense_search(query.vector, n)
    # CSLS's r_q is the question's own neighbourhood in the whole store, whatever is kept
    query_hubness = float(np.mean([s for _p, s in dense[:10]])) if dense else 0.0
    own = view.lexical_search(query.own_terms, n) if query.own_terms else []
    translated = view.lexical_search(query.translated_terms, n) if query.translated_terms else []
    if keep is not None:
        dense = _kept(view, lambda m: view.dense_search(query.vector, m), dense, n, keep)
        own = _kept(view, lambda m: view.lexical_search(query.own_terms, m), own, n, keep)
        translated = _kept(view, lambda m: view.lexical_search(query.translated_terms, m), translated, n, keep)
    pids = list(dict.fromkeys([p for p, _ in dense] + [p for p, _ in own] + [p for p, _ in translated]))
    weights = word_weights(view, query)
    if not pids:
        return Ranking((), np.zeros(0), query_hubness, 0.0, np.zeros(0), tuple(weights))
    passages = view.passages(pids)
    vectors = np.asarray(view.vectors(pids), dtype=np.float32)
    cosines = vectors @ query.vector
    ranker = ranker or model(settings.ranker_model, FEATURES)
    hub = np.asarray(view.hubness(pids), dtype=np.float64)
    if np.isnan(hub).any():  # passages stored without sentence vectors: the training mean, a neutral value
        hub = np.where(np.isnan(hub), ranker.mean[FEATURES.index("hub")], hub)
    dense_rank = {p: r for r, (p, _s) in enumerate(dense, start=1)}
    own_score = dict(own)
    own_rank = {p: r for r, (p, _s) in enumerate(own, start=1)}
    names = [(forms, 1.0) for forms in query.names]
    rows = []
    title_terms: dict[str, set[str]] = {}
    for pid, cos, h in zip(pids, cosines.tolist(), hub.tolist()):
        passage = passages[pid]
        article = view.article(passage.doc)
        lang = (article.lang if article is not None else None) or "fr"
        held = set(terms(passage.text, lang))
        if passage.doc not in title_terms:
            title_terms[passage.doc] = set(terms(article.title or "", lang)) if article is not None else set()
        rows.append([cos, 0.0, h, coverage(held, weights), coverage(held, names), float(lang == query.language), 0.0, 0.0,
                     coverage(held | title_terms[passage.doc], weights)])
    x = np.array(rows, dtype=np.float64)
    x[:, 1] = x[:, 0] - x[:, 0].max()
    x[:, 6:8] = _title_features(view, [passages[p].doc for p in pids], vectors, cosines, query.vector, ranker)
    logits = ranker.logits(x)
    if mode == "dense":
        scores = x[:, 0]
    elif mode == "lexical":
        scores = np.array([own_score.get(p, 0.0) for p in pids])
    elif mode == "rrf":
        scores = np.array([1 / (RRF_K + dense_rank[p]) if p in dense_rank else 0.0 for p in pids]) + \
                 np.array([1 / (RRF_K + own_rank[p]) if p in own_rank else 0.0 for p in pids])
    else:
        scores = logits
    order = best_first(scores, pids)
    citable = sum(pids[i] in own_score for i in order) if mode == "lexical" else None
    candidates = tuple(Candidate(pids[i], x[i], dense_rank.get(pids[i]), float(cosines[i]),
                                 own_rank.get(pids[i]), own_score.get(pids[i])) for i in order)
    seen = [w for t, w in weights if any(view.has_term(term) for term in t)]
    total = sum(w for _t, w in weights)
    return Ranking(candidates, np.asarray([scores[i] for i in order], dtype=np.float64), query_hubness,
                   sum(seen) / total if total > 0 else 0.0, np.asarray([logits[i] for i in order], dtype=np.float64),
                   tuple(weights), citable)


def _title_features(view: StoreView, docs: list[str], vectors: np.ndarray, cosines: np.ndarray, question: np.ndarray,
                    ranker: LinearModel) -> np.ndarray:
    """Per candidate: its article title's cosine with the question, and the cosine of the mean of the
    passage's and the title's vectors (a passage read with its headline). A title without a vector (a
    database filled before schema 5) gets the training means: neither favoured nor penalised."""
    titles = np.asarray(view.title_vectors(docs), dtype=np.float64)
    title_cos = titles @ np.asarray(question, dtype=np.float64)
    overlap = np.einsum("ij,ij->i", np.asarray(vectors, dtype=np.float64), titles)
    mix = (np.asarray(cosines, dtype=np.float64) + title_cos) / np.sqrt(np.maximum(2.0 + 2.0 * overlap, 1e-12))
    out = np.stack([title_cos, mix], axis=1)
    missing = np.isnan(out).any(axis=1)
    if missing.any():
        out[missing] = [ranker.mean[FEATURES.index("title_cos")], ranker.mean[FEATURES.index("title_mix")]]
    return out


def _kept(view: StoreView, search: Callable[[int], list[tuple[int, float]]], first: list[tuple[int, float]],
          n: int, keep: Callable[[Passage], bool]) -> list[tuple[int, float]]:
    """The first `n` results of a search that `keep` accepts, asking for four times more results until
    there are enough or the search has no more (a narrow date window still finds its passages)."""
    results, asked = first, n
    while True:
        passages = view.passages([p for p, _s in results])
        kept = [(p, s) for p, s in results if keep(passages[p])]
        if len(kept) >= n or len(results) < asked or asked >= view.n_passages:
            return kept[:n]
        asked = min(asked * 4, view.n_passages)
        results = search(asked)


def hits(view: StoreView, ranking: Ranking, k: int) -> list[Hit]:
    """The k best citable candidates as Hits (score: the mode's; dense score: the plain cosine)."""
    k = k if ranking.citable is None else min(k, ranking.citable)
    passages = view.passages([c.pid for c in ranking.candidates[:k]])
    return [Hit(passages[c.pid], float(s), c.dense_score, c.dense_rank, c.lexical_score, c.lexical_rank)
            for c, s in zip(ranking.candidates[:k], ranking.scores[:k].tolist())]
