"""qa.sentences: sentence spans and query-side vectors stored with the index, and passage hubness (CSLS)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeEmbedder

from qa.build import add_articles
from qa.errors import IndexStateError
from qa.index import load_index
from qa.records import Passage
from qa.sentences import Sentences, hubness, sentence_table


def _unit(*rows):
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_hubness_is_the_mean_cosine_with_the_nearest_sentences_of_other_passages():
    passages = _unit([1, 0, 0], [0, 1, 0], [0.7, 0.7, 0])
    sentences = _unit([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.6, 0.8, 0])
    owner = np.array([0, 0, 1, 2])
    hub = hubness(passages, sentences, owner, k=2)
    # passage 0 may not count its own two sentences: its neighbours are sentences 3 and 2
    assert hub[0] == pytest.approx((sentences[3] @ passages[0] + sentences[2] @ passages[0]) / 2, abs=1e-6)
    # the passage between both topics is near every sentence: the hub
    assert hub[2] > hub[0] and hub[2] > hub[1]


def test_hubness_of_a_subset_equals_the_whole_computation():
    rng = np.random.default_rng(1)
    passages = rng.normal(size=(6, 8)).astype(np.float32)
    sentences = rng.normal(size=(14, 8)).astype(np.float32)
    owner = np.sort(rng.integers(0, 6, size=14))
    whole = hubness(passages, sentences, owner, k=3)
    part = hubness(passages[[1, 4]], sentences, owner, k=3, passage_rows=np.array([1, 4]))
    assert part == pytest.approx(whole[[1, 4]])


def test_hubness_without_other_sentences_is_zero():
    assert hubness(_unit([1, 0]), _unit([1, 0]), np.array([0]), k=3).tolist() == [0.0]


def test_sentence_table_splits_each_passage():
    text = "Le maire a démissionné. Il part lundi. Une autre phrase ici."
    passages = [Passage(0, "a.txt", 0, 38, 0, 38, text[:38]), Passage(1, "a.txt", 39, len(text), 39, len(text), text[39:])]
    owner, starts, ends = sentence_table({"a.txt": text}, passages)
    assert owner.tolist() == [0, 0, 1]
    assert [text[s:e] for s, e in zip(starts, ends)] == ["Le maire a démissionné.", "Il part lundi.", "Une autre phrase ici."]


def test_index_stores_every_passages_sentences(qa):
    index = qa.index
    table = index.sentences
    assert len(table.hubness) == len(index.passages)
    for passage in index.passages:
        spans = table.spans(passage.id)
        assert spans and all(passage.start <= s.start < s.end <= passage.end for s in spans)
    assert table.vectors.shape == (len(table.owner), FakeEmbedder.dim)
    for name in ("sentences.npy", "sentence_spans.npy", "hubness.npy"):
        assert (index.path / name).is_file()


def test_adding_an_article_embeds_only_its_sentences(settings, qa, tmp_path):
    before = qa.index
    new = tmp_path / "port.txt"
    new.write_text("Le port de Brest accueille un nouveau navire. Il mesure deux cents mètres de long.\n", encoding="utf-8")
    embedder = FakeEmbedder()
    after = add_articles([new], settings, embedder)
    embedded = [t for call in embedder.query_calls for t in call]  # only sentences are embedded as queries
    assert embedded and all("Brest" in t or "mètres" in t for t in embedded)
    old_rows = {p.id for p in before.passages}
    kept = [p for p in after.passages if p.doc != "port.txt"]
    for p in kept:  # the same sentences and vectors as before
        old = next(q for q in before.passages if (q.doc, q.start) == (p.doc, p.start))
        assert old.id in old_rows
        assert after.sentences.spans(p.id) == before.sentences.spans(old.id)
        rows_new, rows_old = after.sentences.rows(p.id), before.sentences.rows(old.id)
        assert np.array_equal(after.sentences.vectors[rows_new.start:rows_new.stop],
                              before.sentences.vectors[rows_old.start:rows_old.stop])


def test_sentence_files_that_disagree_are_corruption(settings, qa):
    path = settings.index_dir / "sentence_spans.npy"
    spans = np.load(path)
    np.save(path, spans[:-1])
    import json

    from qa.generation import MANIFEST
    from qa.load import file_digest

    manifest = json.loads((settings.index_dir / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["sentence_spans.npy"] = file_digest(path)  # checksums pass: the content is inconsistent
    (settings.index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError, match="sentence"):
        load_index(settings.index_dir, settings)


def test_sentences_build_reuses_known_rows():
    embedder = FakeEmbedder()
    text = "Un. Deux trois. Quatre cinq six."
    passages = [Passage(0, "a.txt", 0, 15, 0, 15, text[:15]), Passage(1, "a.txt", 16, len(text), 16, len(text), text[16:])]
    vectors = embedder.encode_documents([p.text for p in passages])
    first = Sentences.build(embedder, {"a.txt": text}, passages, vectors)
    calls = len(embedder.query_calls)
    again = Sentences.build(embedder, {"a.txt": text}, passages, vectors, known=first, kept_rows=[0, 1])
    assert len(embedder.query_calls) == calls  # nothing embedded
    assert np.array_equal(again.vectors, first.vectors) and again.owner.tolist() == first.owner.tolist()


def test_hubness_does_not_depend_on_which_passages_share_a_block():
    rng = np.random.default_rng(3)
    passages = _unit(*rng.normal(size=(5, 6)))
    sentences = _unit(*rng.normal(size=(7, 6)))
    owner = np.array([0, 0, 0, 0, 1, 2, 3])  # passage 0 owns most sentences, passage 4 none
    assert hubness(passages, sentences, owner, k=5) == pytest.approx(hubness(passages, sentences, owner, k=5, block=1))


def test_hubness_ignores_the_passages_own_article_and_copies():
    passages = _unit([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0])
    sentences = _unit([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0])
    owner = np.array([0, 1, 2])
    same_article = hubness(passages, sentences, owner, k=1, article_of=np.array([0, 0, 1]))
    assert same_article[0] == pytest.approx(float(passages[0] @ sentences[2]))  # not its sister passage's sentence
    # a verbatim copy of passage 0 in another article is not a neighbour either
    copy = hubness(_unit([1, 0, 0], [1, 0, 0]), _unit([1, 0, 0], [1, 0, 0]), np.array([0, 1]), k=1)
    assert copy.tolist() == [0.0, 0.0]


def test_an_added_article_leaves_the_other_passages_hubness_alone(settings, qa, tmp_path):
    before = qa.index
    new = tmp_path / "port.txt"
    new.write_text("Le port de Brest accueille un nouveau navire de deux cents mètres.\n", encoding="utf-8")
    after = add_articles([new], settings, FakeEmbedder())
    for p in after.passages:
        if p.doc != "port.txt":
            old = next(q for q in before.passages if (q.doc, q.start) == (p.doc, p.start))
            assert after.sentences.hubness[p.id] == before.sentences.hubness[old.id]
    assert all(after.sentences.hubness[p.id] > 0 for p in after.passages if p.doc == "port.txt")
