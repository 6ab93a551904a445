"""An evaluation suite: a folder of corpora, `<suite>/<name>/articles/` + `<suite>/<name>/questions.jsonl`,
and its split (`split.json` beside the suite or in its parent): which corpora may be studied and
trained on ("tune") and which are only ever scored ("check").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .evaluate import EvalItem, load_eval_set
from .report import aligned_table, format_value
from .settings import Settings


@dataclass(frozen=True)
class Corpus:
    """One corpus of a suite, with its role in the split ("tune", "check" or None when undeclared)."""

    name: str
    articles: Path
    questions: Path
    role: str | None


def find_split(suite: Path) -> Path | None:
    """The split file of a suite: `split.json` inside it, else beside it."""
    for candidate in (suite / "split.json", suite.parent / "split.json"):
        if candidate.is_file():
            return candidate
    return None


def load_suite(suite: Path, split: Path | None = None) -> list[Corpus]:
    """The corpora of a suite folder, sorted by name; InputError for a folder that is not a suite."""
    if not suite.is_dir():
        raise InputError(f"{suite}: no such folder")
    corpora = []
    for folder in sorted(p for p in suite.iterdir() if p.is_dir() and not p.name.startswith(".")):
        articles, questions = folder / "articles", folder / "questions.jsonl"
        if articles.is_dir() and questions.is_file():
            corpora.append(Corpus(folder.name, articles, questions, None))
    if not corpora:
        raise InputError(f"{suite}: no corpus in it (expected <name>/articles/ and <name>/questions.jsonl)")
    split = split or find_split(suite)
    if split is None:
        return corpora
    roles = read_split(Path(split), {c.name for c in corpora})
    return [Corpus(c.name, c.articles, c.questions, roles.get(c.name)) for c in corpora]


def read_split(path: Path, names: set[str]) -> dict[str, str]:
    """{corpus: "tune" | "check"} from a split file; InputError for a corpus it names that the suite lacks,
    one named twice, or a file that is not {"tune": [...], "check": [...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a valid split file ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a valid split file (expected an object with \"tune\" and \"check\" lists)")
    roles: dict[str, str] = {}
    for role in ("tune", "check"):
        listed = data.get(role, [])
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise InputError(f"{path}: \"{role}\" must be a list of corpus names")
        for name in listed:
            if name in roles:
                raise InputError(f"{path}: {name!r} is listed twice (a corpus is tune or check, not both)")
            if name not in names:
                raise InputError(f"{path}: {name!r} is not a corpus of the suite (it has {', '.join(sorted(names))})")
            roles[name] = role
    return roles


def corpus_settings(base: Settings, corpus: Corpus, cache_dir: Path) -> Settings:
    """Settings that index one corpus of the suite into its own cached index folder (rebuilt when it changes)."""
    return base.with_(corpus_dir=corpus.articles, index_dir=cache_dir / corpus.name, store=None)


def corpus_items(corpus: Corpus) -> list[EvalItem]:
    """The corpus's questions, gold quotes resolved against its article files."""
    def text(doc: str) -> str | None:
        path = corpus.articles / doc
        return path.read_text(encoding="utf-8") if path.is_file() else None
    return load_eval_set(corpus.questions, text)


def sessions(corpora: list[Corpus], base: Settings, embedder, cache_dir: Path,
             progress: Callable[[str], None]) -> Iterator[tuple[Corpus, object, list[EvalItem]]]:
    """For each corpus: an answering session over its (cached) index, and its questions."""
    from .service import QA

    for corpus in corpora:
        items = corpus_items(corpus)
        progress(f"[{corpus.name}] {len(items)} questions")
        qa = QA(corpus_settings(base, corpus, cache_dir), embedder=embedder, progress=progress)
        yield corpus, qa, items


def default_cache() -> Path:
    """Where suite indexes are cached: beside the converted model, one folder per corpus."""
    import os

    return Path(os.environ.get("QA_CACHE_DIR", Path.home() / ".cache" / "qa")) / "suite-indexes"


# The plain baselines scored beside the learned ranker on every corpus (see qa.rank).
BASELINES = ("dense", "lexical", "rrf")
SUMMARY_KEYS = ("hit@1", "hit@5", "mrr@10", "abstention_accuracy", "false_refusal_rate", "quote_accuracy")


def evaluate_suite(corpora: list[Corpus], base: Settings, embedder, cache_dir: Path, k: int = 10,
                   progress: Callable[[str], None] = lambda _m: None) -> dict:
    """Index (cached) and score every corpus with qa and the plain baselines; per-corpus results and
    macro averages over the tune and the check corpora, overall and per question language."""
    from .evaluate import evaluate

    results: dict[str, dict] = {}
    for corpus, qa, items in sessions(corpora, base, embedder, cache_dir, progress):
        modes = {}
        for mode in ("hybrid", *BASELINES):
            modes[mode] = evaluate(items, lambda q, m=mode: qa.ask(q, k=k, mode=m))
        results[corpus.name] = {"role": corpus.role, "modes": modes}
        row = modes["hybrid"]["metrics"]["overall"]
        progress(f"[{corpus.name}] hit@1 {format_value(row['hit@1'])} (dense {format_value(modes['dense']['metrics']['overall']['hit@1'])})")
    return {"corpora": results, "macro": macro_averages(results)}


def macro_averages(results: dict[str, dict]) -> dict:
    """Mean over corpora of each metric, per role ("tune", "check", "all"), mode and question language."""
    out: dict = {}
    for role in ("tune", "check", "all"):
        names = [n for n, r in results.items() if role == "all" or r["role"] == role]
        if not names:
            continue
        out[role] = {"corpora": names}
        for mode in ("hybrid", *BASELINES):
            groups = {}
            for group in ("overall", "fr", "en"):
                metrics = {}
                for key in (*SUMMARY_KEYS, "hit@3", "ndcg@10", "recall@5", "latency_p50_ms"):
                    values = [results[n]["modes"][mode]["metrics"].get(group, {}).get(key) for n in names]
                    values = [v for v in values if v is not None]
                    metrics[key] = round(sum(values) / len(values), 4) if values else None
                groups[group] = metrics
            out[role][mode] = groups
    return out


def suite_table(report: dict) -> str:
    """One row per corpus (tune then check) and the macro averages: qa's metrics and the baselines' hit@1 / MRR."""
    head = ("corpus", "role", "q", "hit@1", "hit@5", "MRR", "abst", "false-ref", "quote",
            "dense h@1", "bm25 h@1", "rrf h@1", "best base MRR")
    rows = [head]

    def line(name, role, n, modes):
        h = modes["hybrid"]
        best_mrr = max((modes[b].get("mrr@10") or 0) for b in BASELINES)
        rows.append((name, role, str(n), *(format_value(h.get(k)) for k in SUMMARY_KEYS),
                     *(format_value(modes[b].get("hit@1")) for b in BASELINES), format_value(best_mrr)))

    corpora = report["corpora"]
    for role in ("tune", "check", None):
        for name, r in corpora.items():
            if r["role"] == role:
                line(name, role or "-", r["modes"]["hybrid"]["metrics"]["overall"]["questions"],
                     {m: r["modes"][m]["metrics"]["overall"] for m in r["modes"]})
    roles = ("tune", "check") if any(r["role"] for r in corpora.values()) else ("all",)
    for role in roles:
        if role in report["macro"]:
            macro = report["macro"][role]
            line(f"MACRO {role}", role, len(macro["corpora"]), {m: macro[m]["overall"] for m in ("hybrid", *BASELINES)})
            for lang in ("fr", "en"):
                line(f"  questions in {lang}", role, "", {m: macro[m][lang] for m in ("hybrid", *BASELINES)})
    return aligned_table(rows)


def write_suite_report(out: Path, report: dict) -> None:
    """summary.json, per-corpus metrics.json and per_question.jsonl, the per-corpus plot and the
    reliability plot of `confidence`, written into a temporary folder then swapped in whole."""
    import json

    from .report import write_folder_atomically

    def fill(tmp: Path) -> None:
        summary = {"macro": report["macro"],
                   "corpora": {n: {"role": r["role"], **{m: r["modes"][m]["metrics"] for m in r["modes"]}}
                               for n, r in report["corpora"].items()}}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "summary.txt").write_text(suite_table(report) + "\n", encoding="utf-8")
        for name, r in report["corpora"].items():
            folder = tmp / name
            folder.mkdir()
            (folder / "metrics.json").write_text(json.dumps({m: r["modes"][m]["metrics"] for m in r["modes"]}, indent=2,
                                                            ensure_ascii=False) + "\n", encoding="utf-8")
            with (folder / "per_question.jsonl").open("w", encoding="utf-8") as f:
                for mode, result in r["modes"].items():
                    for row in result["rows"]:
                        f.write(json.dumps(dict(row, retriever=mode), ensure_ascii=False) + "\n")
        plot_suite(report, tmp / "corpora.png")
        plot_reliability(report, tmp / "reliability.png")

    write_folder_atomically(out, fill)


def plot_suite(report: dict, path: Path) -> None:
    """hit@1 and MRR@10 per corpus: qa beside the plain baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for role in ("tune", "check", None) for n, r in report["corpora"].items() if r["role"] == role]
    modes = ("hybrid", *BASELINES)
    fig, axes = plt.subplots(2, 1, figsize=(max(6, 1.2 * len(names) + 2), 7), sharex=True)
    width = 0.8 / len(modes)
    for ax, key in zip(axes, ("hit@1", "mrr@10")):
        for i, mode in enumerate(modes):
            values = [report["corpora"][n]["modes"][mode]["metrics"]["overall"].get(key) or 0 for n in names]
            ax.bar([x + i * width for x in range(len(names))], values, width, label="qa" if mode == "hybrid" else mode)
        ax.set_ylabel(key)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(names))],
                       [f"{n}\n({report['corpora'][n]['role'] or '-'})" for n in names], rotation=30, ha="right")
    axes[0].legend(ncol=len(modes), loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False)  # above: never over bars
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(report: dict, path: Path, bins: int = 10) -> None:
    """Reliability of `confidence`: per bin of predicted probability, the share of questions that are
    answerable (the diagonal is perfect calibration), tune and check corpora apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for role in ("tune", "check"):
        rows = [row for r in report["corpora"].values() if r["role"] == role
                for row in r["modes"]["hybrid"]["rows"] if row.get("confidence") is not None]
        if not rows:
            continue
        p = np.array([row["confidence"] for row in rows])
        y = np.array([row["answerable"] for row in rows], dtype=float)
        edges = np.linspace(0, 1, bins + 1)
        which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
        xs = [p[which == b].mean() for b in range(bins) if (which == b).any()]
        ys = [y[which == b].mean() for b in range(bins) if (which == b).any()]
        ax.plot(xs, ys, marker="o", label=f"{role} ({len(rows)} questions)")
    ax.set_xlabel("confidence (predicted probability of answerable)")
    ax.set_ylabel("share answerable")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
