"""Training the three small models — passage ranker, answerability, sentence quoter — on the tune
corpora of an evaluation suite (`qa train`), and writing them as versioned JSON files.

Every model is a scikit-learn logistic regression over the general features of qa.rank, qa.abstain
and qa.answer, each corpus weighing the same whatever its number of questions. The answerability
threshold is chosen on leave-one-corpus-out predictions: the highest one that refuses at most
`max_false_refusals` of each corpus's answerable questions on average (a macro rate, as reported). Only the tune corpora are read; check corpora are
never passed here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import abstain
from .answer import QUOTE_FEATURES, sentence_choices
from .errors import InputError, ModelError
from .evaluate import EvalItem, overlaps_any
from .rank import FEATURES, LinearModel, Ranking, best_first, neutral_model, rank
from .service import validate_question
from .settings import Settings


@dataclass
class QuestionData:
    """What training needs of one question: its ranking (under the plain dense order), and labels."""

    corpus: str
    item: EvalItem
    view: object
    query: object
    ranking: Ranking
    labels: np.ndarray      # per candidate: overlaps a gold span
    foreign: bool = False   # a question of another corpus, asked here: off-topic, so unanswerable
    source: str = ""        # the corpus a question was written for (another one for a foreign question)


# Questions of the other tune corpora asked to each corpus, as off-topic unanswerable examples: the
# tune sets' own unanswerable questions are mostly near misses naming the articles' entities, so
# without these the model never sees a question about something else entirely.
FOREIGN_PER_CORPUS = 15


def collect(sessions, progress: Callable[[str], None] = print, foreign: int = FOREIGN_PER_CORPUS) -> list[QuestionData]:
    """Rank every question of every session's corpus, plus `foreign` questions of the other corpora
    (as unanswerable); the views stay open (embedded indexes are immutable)."""
    sessions = list(sessions)
    rng = np.random.default_rng(0)
    data = []
    for corpus, qa, items in sessions:
        others = [(c.name, it) for c, _qa, its in sessions if c.name != corpus.name for it in its if it.answerable]
        picked = [others[i] for i in sorted(rng.choice(len(others), size=min(foreign, len(others)), replace=False))] \
            if others else []
        asked = [(it, corpus.name) for it in items] + \
                [(replace(it, id=f"foreign-{it.id}", answerable=False, gold=()), source) for source, it in picked]
        valid = [(it, src) for it, src in asked if _valid(it, qa.settings)]
        queries = qa.prepare([validate_question(it.question, qa.settings) for it, _src in valid])
        with qa.store.snapshot() as view:
            for (item, source), query in zip(valid, queries):
                ranking = rank(view, query, qa.settings, mode="dense", ranker=neutral_model(FEATURES))
                passages = view.passages([c.pid for c in ranking.candidates])
                labels = np.array([overlaps_any(passages[c.pid].doc, passages[c.pid].start, passages[c.pid].end, item.gold)
                                   for c in ranking.candidates], dtype=bool)
                data.append(QuestionData(corpus.name, item, view, query, ranking, labels, source != corpus.name, source))
        progress(f"[{corpus.name}] features of {len(valid)} questions")
    return data


def _valid(item: EvalItem, settings: Settings) -> bool:
    try:
        validate_question(item.question, settings)
        return True
    except Exception:
        return False


def _weights(corpora: list[str]) -> np.ndarray:
    """One weight per row so that every corpus counts the same in a fit."""
    names, counts = np.unique(corpora, return_counts=True)
    per = dict(zip(names, 1.0 / counts))
    return np.array([per[c] for c in corpora]) * len(corpora) / len(names)


def fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, features: tuple[str, ...], c: float = 1.0,
        extra: dict | None = None) -> LinearModel:
    """A standardized logistic regression as a LinearModel (scikit-learn does the fitting); InputError when
    the examples hold one class only (no answerable or no unanswerable question, no relevant passage)."""
    if len(x) == 0 or len(np.unique(y)) < 2:
        raise InputError("the training questions hold only one kind of example (every passage relevant or none, "
                         "or no unanswerable question): add questions of both kinds to the tune corpora")
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise ModelError("qa train needs scikit-learn: pip install 'qa[train]' (answering does not)") from None

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=c, max_iter=2000)
    clf.fit((x - mean) / scale, y.astype(int), sample_weight=weights)
    return LinearModel(tuple(features), mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]), extra or {})


def reranked(qd: QuestionData, ranker: LinearModel) -> tuple[Ranking, np.ndarray]:
    """A question's ranking re-ordered by a ranker, with its labels in the same order."""
    cands = qd.ranking.candidates
    if not cands:
        return qd.ranking, qd.labels
    scores = ranker.logits(np.stack([c.features for c in cands]))
    order = best_first(scores, [c.pid for c in cands])
    return (replace(qd.ranking, candidates=tuple(cands[i] for i in order), scores=scores[order], logits=scores[order]),
            qd.labels[order])


def ranker_rows(data: list[QuestionData]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate features, labels and corpus-balanced weights of every question.

    Unanswerable questions are kept: all their candidates are negatives, so the ranker learns that a
    near miss (the right topic, not the fact asked) is not an answer, and its top score says more
    about answerability. Leave-one-corpus-out on the tune corpora, abstention at 5 % false refusals
    rose on all four tune corpora of the time (macro 0.07 → 0.19) for hit@1 within 0.01."""
    xs, ys, corpora = [], [], []
    for qd in data:
        if qd.ranking.candidates:
            xs.append(np.stack([c.features for c in qd.ranking.candidates]))
            ys.append(qd.labels)
            corpora += [qd.corpus] * len(qd.labels)
    return np.vstack(xs), np.concatenate(ys), _weights(corpora)


def fit_ranker(data: list[QuestionData]) -> LinearModel:
    x, y, w = ranker_rows(data)
    return fit(x, y, w, FEATURES)


def abstain_rows(data: list[QuestionData], ranker: LinearModel) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys, corpora = [], [], []
    for qd in data:
        ranking, _labels = reranked(qd, ranker)
        xs.append(abstain.features(qd.view, qd.query, ranking))
        ys.append(qd.item.answerable)
        corpora.append(qd.corpus)
    return np.stack(xs), np.array(ys, dtype=bool), corpora


def operating_point(probabilities: np.ndarray, answerable: np.ndarray, max_false_refusals: float,
                    groups: np.ndarray | None = None) -> float:
    """The highest threshold refusing at most `max_false_refusals` of the answerable questions, on average
    over `groups` (corpora: the rate users of each corpus meet) when given, else over all of them."""
    p = probabilities[answerable]
    if len(p) == 0:
        return 0.5
    g = np.zeros(len(p), dtype=int) if groups is None else np.unique(np.asarray(groups)[answerable], return_inverse=True)[1]

    def refused(t: float) -> float:
        return float(np.mean([np.mean(p[g == k] < t) for k in np.unique(g)]))

    candidates = np.sort(np.unique(p))
    best = float(candidates[0])
    for t in candidates:  # the refusal rate grows with t: the last one within the bound wins
        if refused(t) <= max_false_refusals:
            best = float(t)
        else:
            break
    return best


def quote_rows(data: list[QuestionData], ranker: LinearModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, corpora = [], [], []
    for qd in data:
        if not qd.item.answerable:
            continue
        ranking, _labels = reranked(qd, ranker)
        for choice in sentence_choices(qd.view, qd.query, ranking):
            passage = qd.view.passages([ranking.candidates[choice.hit].pid])
            doc = next(iter(passage.values())).doc
            xs.append(choice.features)
            ys.append(overlaps_any(doc, choice.quoted.start, choice.quoted.end, qd.item.gold))
            corpora.append(qd.corpus)
    return np.stack(xs), np.array(ys, dtype=bool), _weights(corpora)


def hit_at_1(data: list[QuestionData], ranker: LinearModel | None) -> float:
    """Mean hit@1 of answerable questions under a ranker (None: the plain dense order)."""
    hits = []
    for qd in data:
        if qd.item.answerable:
            labels = qd.labels if ranker is None else reranked(qd, ranker)[1]
            hits.append(bool(len(labels) and labels[0]))
    return float(np.mean(hits)) if hits else 0.0


def leave_one_corpus_out(data: list[QuestionData], max_false_refusals: float) -> dict:
    """Per held-out tune corpus: hit@1 dense vs ranker, and abstention at the CV operating point."""
    corpora = sorted({qd.corpus for qd in data})
    report, probabilities, answerable = {}, [], []
    for held in corpora:
        # a held-out corpus's questions stay out of training, also where they were asked to another corpus
        train = [qd for qd in data if qd.corpus != held and qd.source != held]
        test = [qd for qd in data if qd.corpus == held and not qd.foreign]
        ranker = fit_ranker(train)
        x, y, names = abstain_rows(train, ranker)
        model = fit(x, y, _weights(names), abstain.FEATURES)
        tx, ty, _ = abstain_rows(test, ranker)
        p = model.probabilities(tx)
        probabilities.append(p)
        answerable.append(ty)
        report[held] = {"dense_hit@1": round(hit_at_1(test, None), 3), "ranker_hit@1": round(hit_at_1(test, ranker), 3)}
    raw, y = np.concatenate(probabilities), np.concatenate(answerable)
    groups = np.array([held for held in corpora for qd in data if qd.corpus == held and not qd.foreign])
    calibration = calibrate(raw, y, groups)
    p = abstain.calibrated(raw, calibration)
    threshold = operating_point(p, y, max_false_refusals, groups)
    i = 0
    for held in corpora:
        n = sum(qd.corpus == held and not qd.foreign for qd in data)
        hp, hy = p[i:i + n], y[i:i + n]
        i += n
        report[held]["false_refusals"] = round(float(np.mean(hp[hy] < threshold)), 3) if hy.any() else None
        report[held]["abstention"] = round(float(np.mean(hp[~hy] < threshold)), 3) if (~hy).any() else None
    return {"threshold": threshold, "calibration": calibration, "corpora": report, "probabilities": p.tolist(),
            "answerable": y.tolist()}


def calibrate(raw: np.ndarray, answerable: np.ndarray, groups: np.ndarray) -> dict:
    """An isotonic map from the model's raw probability to the share of answerable questions, fitted on
    held-out predictions (each corpus weighing the same), as breakpoints for np.interp.

    Why: the model is trained with other corpora's questions as off-topic negatives, which users' own
    near misses are not, so its raw probability under-states answerability at low scores; a monotone
    map fixes the probabilities without reordering questions."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(raw, answerable.astype(float), sample_weight=_weights(list(groups)))
    # Each flat step of the isotonic fit becomes one point at its middle, joined linearly: a strictly
    # increasing map, so questions keep their order and the operating point is the raw one, mapped.
    xs, ys = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
    levels = np.unique(ys)
    middles = [float(xs[ys == level].mean()) for level in levels]
    return {"raw": middles, "calibrated": [float(v) for v in levels]}


def train(data: list[QuestionData], out_dir: Path, max_false_refusals: float = 0.05,
          about: dict | None = None, progress: Callable[[str], None] = print) -> dict:
    """Fit and write ranker.json, abstain.json and quoter.json into out_dir; returns the CV report.

    The three files are written as a set: each into a temporary file renamed into place, the ranker last
    but its digest recorded in the other two, which are only used with that ranker (qa.rank.model)."""
    if len({qd.corpus for qd in data}) < 2:
        raise InputError("qa train needs at least two tune corpora (each is held out in turn to choose the "
                         "abstention threshold)")
    cv = leave_one_corpus_out(data, max_false_refusals)
    ranker = fit_ranker(data)
    x, y, names = abstain_rows(data, ranker)
    abstainer = fit(x, y, _weights(names), abstain.FEATURES,
                    extra={"threshold": cv["threshold"], "calibration": cv["calibration"],
                           "max_false_refusals": max_false_refusals})
    qx, qy, qw = quote_rows(data, ranker)
    quoter = fit(qx, qy, qw, QUOTE_FEATURES)
    trained_on = about or {}
    ranker_text = json.dumps(ranker.to_json() | {"trained_on": trained_on}, indent=1) + "\n"
    digest = hashlib.sha256(ranker_text.encode("utf-8")).hexdigest()
    texts = {name: json.dumps(model.to_json() | {"trained_on": trained_on, "ranker_sha256": digest}, indent=1) + "\n"
             for name, model in (("abstain", abstainer), ("quoter", quoter))} | {"ranker": ranker_text}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("abstain", "quoter", "ranker"):
            tmp = out_dir / f".{name}.json.tmp-{os.getpid()}"
            tmp.write_text(texts[name], encoding="utf-8")
            os.replace(tmp, out_dir / f"{name}.json")
    except OSError as exc:
        raise InputError(f"cannot write the models into {out_dir}: {exc.strerror or exc} (choose another --out)") from None
    progress(f"wrote ranker.json, abstain.json, quoter.json to {out_dir}/")
    return {k: v for k, v in cv.items() if k not in ("probabilities", "answerable", "calibration")}
