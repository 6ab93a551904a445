"""Sentence-level evidence stored at index time: each passage's sentence spans, their vectors, and
each passage's hubness.

A passage of several sentences answers a question through one of them; the cosine of the question
with its best sentence is sharper than with the whole passage, and it picks the sentence to quote.
Sentences are embedded on the *query* side of the model (e5's "query: " prompt: symmetric
similarity), so they also serve as a corpus of question-like texts for hubness: a passage close to
the sentences of many other articles (a summary, a generic paragraph) comes out near many questions
it does not answer. Its hubness is its mean cosine with its k nearest such sentences (CSLS,
Conneau et al. 2018), computed over the whole index and subtracted by the ranker as it learned to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .chunk import split_sentences
from .records import Passage, Span
from .text import clean_input

# Neighbours averaged for a passage's hubness, and at most this many sentences stand for the whole
# corpus (a random sample, fixed seed), so hubness costs O(passages × sample) on a large index.
HUB_NEIGHBOURS = 10
HUB_SAMPLE = 20_000
# Sentences this close to a passage are copies of it (a duplicate or republished article), not neighbours.
NEAR_DUPLICATE = 0.98


def passage_sentences(text: str, passage: Passage) -> list[Span]:
    """The sentence spans of one passage (the passage itself when it is one sentence)."""
    return split_sentences(text, Span(passage.start, passage.end)) or [Span(passage.start, passage.end)]


def sentence_table(texts: dict[str, str], passages: Sequence[Passage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner passage row, start, end) arrays of every sentence, in passage order."""
    owner, starts, ends = [], [], []
    for row, passage in enumerate(passages):
        for span in passage_sentences(texts[passage.doc], passage):
            owner.append(row)
            starts.append(span.start)
            ends.append(span.end)
    return (np.array(owner, dtype=np.int64), np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))


def embed_sentences(embedder, texts: dict[str, str], passages: Sequence[Passage], owner: np.ndarray,
                    starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Query-side unit vectors of the sentences (normalized like the questions they are compared with)."""
    docs = [passages[row].doc for row in owner]
    sentences = [clean_input(texts[doc][s:e]) for doc, s, e in zip(docs, starts.tolist(), ends.tolist())]
    if not sentences:
        return np.zeros((0, getattr(embedder, "dim", 1)), dtype=np.float32)
    return np.asarray(embedder.encode_queries(sentences), dtype=np.float32)


def hubness(passage_vectors: np.ndarray, sentence_vectors: np.ndarray, owner: np.ndarray,
            k: int = HUB_NEIGHBOURS, sample: int = HUB_SAMPLE, block: int = 512,
            passage_rows: np.ndarray | None = None, article_of: np.ndarray | None = None,
            near_duplicate: float = NEAR_DUPLICATE) -> np.ndarray:
    """Each passage's mean cosine with its k nearest sentences of *other articles* (0 when there are none).

    `owner` gives each sentence's passage row, `passage_rows` the rows of the passages given (default
    0..n-1, so a subset can be scored against the whole corpus), `article_of` each row's article (by
    default each passage is its own). Sentences of the same article do not count (a passage is not a
    hub for resembling its own story), nor near-copies (cosine above `near_duplicate`): a duplicate
    or republished article must not make its twin look like a hub."""
    n = len(passage_vectors)
    out = np.zeros(n, dtype=np.float32)
    if n == 0 or len(sentence_vectors) == 0:
        return out
    rows_of = np.arange(n) if passage_rows is None else np.asarray(passage_rows)
    rows = np.arange(len(sentence_vectors))
    if len(rows) > sample:
        rows = np.sort(np.random.default_rng(0).choice(rows, size=sample, replace=False))
    pool = np.asarray(sentence_vectors[rows], dtype=np.float32)
    group_of = np.arange(int(max(owner.max(), rows_of.max())) + 1) if article_of is None else np.asarray(article_of)
    pool_group = group_of[owner[rows]]
    kk = min(k, len(pool))
    for first in range(0, n, block):
        block_vectors = np.asarray(passage_vectors[first:first + block], dtype=np.float32)
        sims = block_vectors @ pool.T
        mine = group_of[rows_of[first:first + len(block_vectors)]]
        sims[(pool_group[None, :] == mine[:, None]) | (sims > near_duplicate)] = -np.inf
        top = np.partition(sims, len(pool) - kk, axis=1)[:, len(pool) - kk:]
        finite = np.isfinite(top)
        counts = finite.sum(axis=1)
        sums = np.where(finite, top, 0.0).sum(axis=1)
        out[first:first + len(block_vectors)] = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return out


class Sentences:
    """The sentence table of one index generation: owner passage row, span and vector of every
    sentence, in passage order, plus each passage's hubness."""

    def __init__(self, owner: np.ndarray, starts: np.ndarray, ends: np.ndarray, vectors: np.ndarray, hub: np.ndarray):
        self.owner, self.starts, self.ends, self.vectors, self.hubness = owner, starts, ends, vectors, hub
        # rows of passage i are first[i]:first[i + 1] (owners are sorted, passages in order)
        self.first = np.searchsorted(owner, np.arange(len(hub) + 1))

    def rows(self, passage: int) -> range:
        return range(int(self.first[passage]), int(self.first[passage + 1]))

    def spans(self, passage: int) -> list[Span]:
        return [Span(int(self.starts[r]), int(self.ends[r])) for r in self.rows(passage)]

    @classmethod
    def build(cls, embedder, texts: dict[str, str], passages: Sequence[Passage], passage_vectors: np.ndarray,
              known: Sentences | None = None, kept_rows: Sequence[int] = ()) -> Sentences:
        """Sentences of `passages`; the first len(kept_rows) passages are `known`'s rows `kept_rows`,
        whose sentences are reused as they were (an added article embeds only its own)."""
        parts_owner, parts_start, parts_end, parts_vec = [], [], [], []
        if known is not None:
            for new_row, old_row in enumerate(kept_rows):
                rows = known.rows(old_row)
                parts_owner.append(np.full(len(rows), new_row, dtype=np.int64))
                parts_start.append(known.starts[rows.start:rows.stop])
                parts_end.append(known.ends[rows.start:rows.stop])
                parts_vec.append(np.asarray(known.vectors[rows.start:rows.stop], dtype=np.float32))
        fresh = list(passages[len(kept_rows):])
        owner, starts, ends = sentence_table(texts, fresh)
        vectors = embed_sentences(embedder, texts, fresh, owner, starts, ends)
        parts_owner.append(owner + len(kept_rows))
        parts_start.append(starts)
        parts_end.append(ends)
        parts_vec.append(vectors.reshape(len(owner), passage_vectors.shape[1]) if len(owner) else
                         np.zeros((0, passage_vectors.shape[1]), dtype=np.float32))
        owner = np.concatenate(parts_owner)
        vectors = np.vstack(parts_vec).astype(np.float32)
        docs = {doc: i for i, doc in enumerate(dict.fromkeys(p.doc for p in passages))}
        article_of = np.array([docs[p.doc] for p in passages], dtype=np.int64)
        # Passages kept from `known` keep their hubness (an addition leaves the other articles alone);
        # only the new ones are scored, against every sentence of the index. `qa index` scores them all.
        hub = np.zeros(len(passages), dtype=np.float32)
        kept = len(kept_rows) if known is not None else 0
        if kept:
            hub[:kept] = np.asarray(known.hubness, dtype=np.float32)[list(kept_rows)]
        new_rows = np.arange(kept, len(passages))
        if len(new_rows):
            hub[kept:] = hubness(np.asarray(passage_vectors[kept:]), vectors, owner, passage_rows=new_rows,
                                 article_of=article_of)
        return cls(owner, np.concatenate(parts_start), np.concatenate(parts_end), vectors, hub)
