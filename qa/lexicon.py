"""Cross-lingual and typo-tolerant term matching through the embedding model's word vectors.

BM25 only matches words spelled as in the articles. An English question ("Which law created the
hub?") or a misspelt one ("hebergemnt") shares few of them. Every distinct word of the corpus is
embedded once at index time; a question word missing from the index is mapped to the corpus word
nearest to it (law → loi, insurance → assurance, hebergemnt → hébergé) when they are close enough.
The same mapping tells which question words the articles cover at all, a signal for abstention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .text import fold, stopwords, terms

# Words with at least one letter (EMC2 counts, 2019 does not); apostrophes and hyphens split words,
# so "l’hébergement" gives "hébergement" and "a-t-elle" gives only stop words.
_WORD = re.compile(r"\w*[^\W\d_]\w*")


def content_words(text: str) -> list[str]:
    """Lower-cased words of three letters or more that are not stop words, in order, without repeats."""
    seen, out = set(), []
    for match in _WORD.finditer(text.lower()):
        word = match.group()
        if len(word) >= 3 and fold(word) not in stopwords() and word not in seen:
            seen.add(word)
            out.append(word)
    return out


@dataclass
class Lexicon:
    """The corpus's distinct content words, their BM25 terms and their (query-side) embeddings."""

    words: list[str]
    stems: list[str]
    vectors: np.ndarray

    @classmethod
    def build(cls, texts: list[str], embedder, known: "Lexicon | None" = None) -> "Lexicon":
        """Embed the distinct words of `texts`, reusing vectors already in `known`."""
        words = sorted({w for text in texts for w in content_words(text)})
        stems = [(terms(w) or [""])[0] for w in words]
        reuse = {w: known.vectors[i] for i, w in enumerate(known.words)} if known is not None else {}
        missing = [w for w in words if w not in reuse]
        fresh = dict(zip(missing, embedder.encode_queries(missing))) if missing else {}
        dim = getattr(embedder, "dim", None) or (len(next(iter(reuse.values()))) if reuse else 1)
        vectors = np.array([reuse[w] if w in reuse else fresh[w] for w in words], dtype=np.float32).reshape(len(words), dim)
        return cls(words, stems, vectors)

    def term_similarity(self, vector: np.ndarray, term: str) -> float:
        """The best cosine between a query-word vector and the corpus words whose BM25 term is `term` (0 if none)."""
        rows = self._rows_by_term().get(term)
        return float((self.vectors[rows] @ vector).max()) if rows else 0.0

    def _rows_by_term(self) -> dict[str, list[int]]:
        if getattr(self, "_by_term", None) is None:
            by_term: dict[str, list[int]] = {}
            for row, stem in enumerate(self.stems):
                by_term.setdefault(stem, []).append(row)
            self._by_term = by_term
        return self._by_term

    def nearest(self, vectors: np.ndarray) -> list[tuple[str, str, float]]:
        """For each query-word vector, the nearest corpus word, its term and the cosine."""
        if not len(self.words) or not len(vectors):
            return [("", "", 0.0)] * len(vectors)
        sims = vectors @ self.vectors.T
        best = sims.argmax(axis=1)
        return [(self.words[j], self.stems[j], float(sims[i, j])) for i, j in enumerate(best)]
