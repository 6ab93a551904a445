"""qa.index: loading a verified index, staleness detection, corruption refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ARTICLE_TRAMWAY, FAKE_MODEL

from qa.build import build_index
from qa.errors import IndexStateError
from qa.generation import MANIFEST, verify_index
from qa.index import index_problem, load_index


@pytest.fixture
def built(settings, fake_embedder):
    return build_index(settings, fake_embedder)


# ------------------------------------------------------------------ loading

def test_load_index_round_trips(settings, built):
    loaded = load_index(settings.index_dir, settings, FAKE_MODEL)
    assert loaded.passages == built.passages
    assert loaded.articles == built.articles
    assert np.array_equal(loaded.embeddings, built.embeddings)
    assert loaded.embeddings.dtype == np.float32
    assert loaded.dense.ntotal == len(loaded.passages)
    assert np.array_equal(loaded.sentences.vectors, built.sentences.vectors)
    for p in loaded.passages:
        assert p.text == loaded.articles[p.doc].text[p.start:p.end]
    # The stored text is the file's text, exactly.
    for doc, article in loaded.articles.items():
        assert article.text == (settings.corpus_dir / doc).read_text(encoding="utf-8")


# ------------------------------------------------------------------ staleness

def test_index_problem_none_when_current(settings, built):
    assert index_problem(settings.index_dir, settings) is None
    assert index_problem(settings.index_dir, settings, FAKE_MODEL) is None


def test_index_problem_missing(tmp_path, settings):
    assert "no index" in index_problem(tmp_path / "nothing", settings)


@pytest.mark.parametrize("change, words", [
    (lambda c: (c / "observatoire.txt").write_text("Un tout autre texte sur la météo du jour.", encoding="utf-8"), "1 changed"),
    (lambda c: (c / "nouveau.txt").write_text(ARTICLE_TRAMWAY, encoding="utf-8"), "1 added"),
    (lambda c: (c / "observatoire.txt").unlink(), "1 removed"),
    (lambda c: (c / "observatoire.txt").rename(c / "observatoire2.txt"), "1 added, 1 removed"),
])
def test_index_problem_detects_a_changed_corpus(settings, built, change, words):
    change(settings.corpus_dir)
    problem = index_problem(settings.index_dir, settings)
    assert "changed" in problem and words in problem


def test_index_problem_ignores_files_that_are_not_articles(settings, built):
    (settings.corpus_dir / "notes.pdf").write_bytes(b"%PDF")
    (settings.corpus_dir / ".hidden.txt").write_text("brouillon", encoding="utf-8")
    assert index_problem(settings.index_dir, settings) is None


def test_index_problem_other_model(settings, built):
    problem = index_problem(settings.index_dir, settings.with_(model="other-model"))
    assert "model" in problem and "other-model" in problem
    assert "other-model" in index_problem(settings.index_dir, settings, "other-model")


@pytest.mark.parametrize("change", [{"passage_max_chars": 200}, {"embed_context": "title+heading"}])
def test_index_problem_other_chunk_settings(settings, built, change):
    assert "settings" in index_problem(settings.index_dir, settings.with_(**change))


def test_retrieval_settings_do_not_make_the_index_stale(settings, built):
    assert index_problem(settings.index_dir, settings.with_(top_k=3, mode="dense", min_confidence=0.2)) is None


# ------------------------------------------------------------------ corruption

def _flip_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPTIONS = [
    ("embeddings.npy", _flip_bit, "checksum"),
    ("dense.faiss", _flip_bit, "checksum"),
    ("passages.jsonl", _truncate, "checksum"),
    ("articles.jsonl", lambda p: p.write_bytes(b""), "checksum"),
    ("sentences.npy", lambda p: p.unlink(), "missing"),
    ("hubness.npy", _flip_bit, "checksum"),
    (MANIFEST, lambda p: p.write_bytes(b"\x00\xff garbage {"), "corrupt"),
    (MANIFEST, lambda p: p.write_text("[1, 2, 3]", encoding="utf-8"), "corrupt"),
    (MANIFEST, lambda p: p.write_text('{"format": "qa-index"}', encoding="utf-8"), "corrupt"),
    (MANIFEST, _truncate, "corrupt"),
]


@pytest.mark.parametrize("name, damage, words", CORRUPTIONS, ids=[f"{n}-{i}" for i, (n, _d, _w) in enumerate(CORRUPTIONS)])
def test_corruption_is_one_line_index_state_error(settings, built, name, damage, words):
    damage(settings.index_dir / name)
    with pytest.raises(IndexStateError) as info:
        load_index(settings.index_dir, settings, FAKE_MODEL)
    message = str(info.value)
    assert "\n" not in message and words in message
    assert "qa index" in message  # says how to fix it
    assert info.value.exit_code == 1


def test_bm25_file_corruption_is_detected(settings, built):
    bm25_file = sorted((settings.index_dir / "bm25").iterdir())[0]
    _flip_bit(bm25_file)
    with pytest.raises(IndexStateError, match="bm25/"):
        verify_index(settings.index_dir)


def test_other_format_version_is_refused(settings, built):
    path = settings.index_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError, match="v99"):
        load_index(settings.index_dir)
    assert "v99" in index_problem(settings.index_dir, settings)


def test_load_index_for_another_model_is_refused(settings, built):
    with pytest.raises(IndexStateError, match="other-model"):
        load_index(settings.index_dir, settings, "other-model")


def test_load_missing_index(tmp_path):
    with pytest.raises(IndexStateError, match="no index"):
        load_index(tmp_path / "nothing")


def test_an_index_built_by_other_ingestion_code_is_stale(settings, fake_embedder, monkeypatch):
    """A cleaning or chunking change in qa (no setting changed) makes the index stale: it is rebuilt."""
    import qa.index as index_module
    from qa.build import build_index

    build_index(settings, fake_embedder)
    assert index_module.index_problem(settings.index_dir, settings, fake_embedder.name) is None
    monkeypatch.setattr(index_module, "ingestion_digest", lambda: "another-version")
    problem = index_module.index_problem(settings.index_dir, settings, fake_embedder.name)
    assert problem and "another version of qa" in problem
