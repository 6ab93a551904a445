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
    roles: dict[str, str] = {}
    split = split or find_split(suite)
    if split is not None:
        try:
            data = json.loads(Path(split).read_text(encoding="utf-8"))
            for role in ("tune", "check"):
                for name in data.get(role, []):
                    roles[str(name)] = role
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise InputError(f"{split}: not a valid split file ({exc})") from None
    corpora = []
    for folder in sorted(p for p in suite.iterdir() if p.is_dir() and not p.name.startswith(".")):
        articles, questions = folder / "articles", folder / "questions.jsonl"
        if articles.is_dir() and questions.is_file():
            corpora.append(Corpus(folder.name, articles, questions, roles.get(folder.name)))
    if not corpora:
        raise InputError(f"{suite}: no corpus in it (expected <name>/articles/ and <name>/questions.jsonl)")
    return corpora


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


def default_cache(settings: Settings) -> Path:
    """Where suite indexes are cached: beside the converted model, one folder per corpus."""
    import os

    return Path(os.environ.get("QA_CACHE_DIR", Path.home() / ".cache" / "qa")) / "suite-indexes"
