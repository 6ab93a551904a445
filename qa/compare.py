"""Side-by-side evaluation of retrieval variants (`qa eval --compare`): modes, fusion, passage size, k.

Each variant is the default configuration with one setting changed, so a column of the comparison
says what that one choice is worth. Variants that change what is stored (passage size, embedded
context) get their own index, built in a temporary folder with the already-loaded model and removed
afterwards; the rest reuse the session's index.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import InputError
from .evaluate import EvalItem, evaluate
from .service import QA
from .settings import Settings

# What `--sweep` may change, beside `k` (passages cited per question, an option of `qa eval`).
SWEEPABLE = ("mode", "fusion", "lexical_weight_max", "rrf_k", "answer_type_boost", "name_max_share", "candidates",
             "use_glossary", "use_entities", "glossary_threshold", "glossary_context_passages", "glossary_context_threshold",
             "hub_discount_en", "hub_discount_fr", "hub_neighbours", "bridge_threshold", "known_word_zipf", "min_dense_score", "min_dense_score_en",
             "min_term_coverage", "min_passage_coverage",
             "require_specific_overlap", "specific_term_max_share", "require_count", "require_amount", "require_role", "require_event", "passage_max_chars", "embed_context")
# The comparison `--compare` runs when no `--sweep` is given: each retriever alone, the other fusion,
# a lighter and a heavier lexical share, without the glossary or the entity table, without hub discounting for English
# questions, without the specific-word abstention check, shorter and longer passages, and fewer citations.
# Knobs that only act under one fusion.
_FUSION_OF = {"rrf_k": "rrf", "lexical_weight_max": "cc"}
DEFAULT_SWEEPS = ("mode=dense,lexical", "fusion=rrf", "lexical_weight_max=0.3,0.9", "use_glossary=false", "use_entities=false",
                  "hub_discount_en=0", "require_specific_overlap=false", "passage_max_chars=250,600", "k=5")


@dataclass(frozen=True)
class Variant:
    """One configuration to score: a name for tables and reports, and its changes from the defaults."""

    name: str
    changes: tuple[tuple[str, object], ...] = ()

    def settings(self, base: Settings) -> Settings:
        """The base settings with this variant's changes (k is not a setting; see `k`)."""
        return base.with_(**{key: value for key, value in self.changes if key != "k"})

    def k(self, default: int) -> int:
        """Passages cited per question under this variant."""
        return int(dict(self.changes).get("k", default))


def parse_sweeps(specs: tuple[str, ...] | list[str], base: Settings) -> list[Variant]:
    """The default configuration first, then one variant per value of each `SETTING=V1,V2` spec.

    Values are converted to the setting's type and checked by building the Settings, so a typo is
    an InputError naming it, before any question is run.
    """
    types = {f.name: f.type for f in fields(Settings)}
    variants = [Variant(_default_name(base))]
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not values.strip():
            raise InputError(f"--sweep {spec!r}: expected SETTING=VALUE[,VALUE…], e.g. passage_max_chars=250,600")
        if key not in SWEEPABLE and key != "k":
            raise InputError(f"--sweep {spec!r}: unknown setting {key!r}; choose from k, {', '.join(SWEEPABLE)}")
        for raw in values.split(","):
            value = _convert(key, raw.strip(), types.get(key, "int"))
            changes = ((key, value),)
            if key in _FUSION_OF and base.fusion != _FUSION_OF[key]:
                # This knob belongs to the other fusion: the variant switches to it.
                changes = (("fusion", _FUSION_OF[key]), (key, value))
            name = str(value) if key == "mode" else ",".join(f"{k}={v}" for k, v in changes)
            variant = Variant(name, changes)
            variant.settings(base)  # validates the value (InputError on a bad one)
            if variant.k(1) < 1 or variant.k(1) > 100:
                raise InputError(f"--sweep {spec!r}: k must be between 1 and 100")
            if variant.name not in {v.name for v in variants}:
                variants.append(variant)
    return variants


def _default_name(base: Settings) -> str:
    return base.mode


def _convert(key: str, raw: str, kind) -> object:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if "None" in kind and raw.strip().lower() in ("none", "off"):
        return None  # an optional setting turned off (known_word_zipf=none)
    if "bool" in kind:
        if raw.strip().lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise InputError(f"--sweep {key}: {raw!r} is not true or false")
        return raw.strip().lower() in ("true", "1", "yes", "on")
    try:
        if "float" in kind:
            return float(raw)
        if "int" in kind:
            return int(raw)
    except ValueError:
        raise InputError(f"--sweep {key}: {raw!r} is not a number") from None
    return raw


def changes_index(variant: Variant, base: Settings) -> bool:
    """Whether a variant needs its own index (it changes what is chunked or embedded)."""
    return variant.settings(base).index_params() != base.index_params()


@contextmanager
def session_for(variant: Variant, qa: QA, progress: Callable[[str], None]) -> Iterator[QA]:
    """A QA session for the variant: the given one with other settings, or one over a temporary index."""
    settings = variant.settings(qa.settings)
    if not changes_index(variant, qa.settings):
        yield QA(settings, qa.embedder, store=qa.store)
        return
    from .index import build_index

    with tempfile.TemporaryDirectory(prefix="qa-compare-") as tmp:
        # Always an embedded index, even beside a PostgreSQL store: the variant is about chunking.
        settings = settings.with_(index_dir=Path(tmp) / "index", store="")
        progress(f"Building a temporary index for {variant.name}")
        yield QA(settings, qa.embedder, index=build_index(settings, qa.embedder, progress))


def compare(qa: QA, items: list[EvalItem], variants: list[Variant], k: int,
            progress: Callable[[str], None], bar: Callable[[str, int], object]) -> dict[str, dict]:
    """Score every variant on the same items; {variant name: evaluate()'s result}, in order.

    `bar(label, length)` opens a progress context whose object has `update(n)`.
    """
    results = {}
    for variant in variants:
        with session_for(variant, qa, progress) as session, bar(f"Evaluating ({variant.name})", len(items)) as meter:
            variant_k = variant.k(k)
            results[variant.name] = evaluate(items, lambda q, s=session, n=variant_k: s.ask(q, k=n),
                                             lambda _i, _n, m=meter: m.update(1))
    return results
