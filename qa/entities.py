"""Bodies and companies that a question describes instead of naming them: "la plus haute juridiction
administrative" is the Conseil d'État, "the French data protection authority" the CNIL, "a French
cloud provider" OVH.

Neither the question's words nor the embedding link such a description to the name the articles
use, so BM25 never sees it. A small hand-written table of who is who (qa/data/entities.tsv) adds the
described entity's name to the question's BM25 terms: query expansion from entity knowledge, as an
entity linker backed by a knowledge base would do. The answer and its quotes still come from the
articles only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .text import terms

ENTITIES_PATH = Path(__file__).parent / "data" / "entities.tsv"


@dataclass(frozen=True)
class Entity:
    """A named body or company and the ways people describe it, each description as its index terms."""

    name: str
    name_terms: frozenset[str]
    descriptions: tuple[tuple[str, ...], ...]


@lru_cache(maxsize=4)
def load_entities(path: Path = ENTITIES_PATH) -> tuple[Entity, ...]:
    """The entities of a table file (name, a tab, descriptions separated by "|"); none if the file is missing."""
    if not path.is_file():
        return ()
    entities = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, described = line.partition("\t")
        descriptions = tuple(tuple(terms(d)) for d in described.split("|") if terms(d))
        if terms(name) and descriptions:
            entities.append(Entity(name.strip(), frozenset(terms(name)), descriptions))
    return tuple(entities)


# How many other words may stand between two words of a description: "hébergeur cloud français"
# holds "hébergeur français"; "host French health data" does not hold "French host".
DESCRIPTION_GAP = 1


def holds(question_terms: list[str], description: tuple[str, ...], gap: int = DESCRIPTION_GAP) -> bool:
    """Whether the description's terms occur in the question's, in order, at most `gap` terms apart."""
    for start, term in enumerate(question_terms):
        if term != description[0]:
            continue
        position = start
        for wanted in description[1:]:
            window = question_terms[position + 1:position + 2 + gap]
            if wanted not in window:
                break
            position += 1 + window.index(wanted)
        else:
            return True
    return False


def description_held(question_terms: list[str], entity: Entity) -> tuple[str, ...] | None:
    """The longest of the entity's descriptions that the question's terms hold ("French cloud provider"
    rather than "French cloud"), or None."""
    held = [d for d in entity.descriptions if holds(question_terms, d)]
    return max(held, key=len) if held else None


def described_entities(question: str, entities: tuple[Entity, ...] | None = None) -> list[tuple[Entity, tuple[str, ...]]]:
    """The entities a question describes without naming them, each with the description it holds
    ("Which French hosting company…" holds OVH's "French hosting company"); a question holding all the
    name's terms names the entity and describes none."""
    question_terms = terms(question)
    out = []
    for entity in load_entities() if entities is None else entities:
        description = None if entity.name_terms <= set(question_terms) else description_held(question_terms, entity)
        if description is not None:
            out.append((entity, description))
    return out
