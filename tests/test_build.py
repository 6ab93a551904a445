"""qa.build: files with checksums, atomic swaps, rebuilding a stale index, and incremental additions."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from conftest import ARTICLE_TRAMWAY, FAKE_MODEL, FakeEmbedder, make_settings

from qa import build as build_module
from qa.build import add_articles, build_index, ensure_index
from qa.errors import CorpusError, IndexStateError, QAError
from qa.generation import MANIFEST, REQUIRED_FILES, verify_index
from qa.index import FORMAT_VERSION, index_problem, load_index


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_of(settings) -> dict:
    return json.loads((settings.index_dir / MANIFEST).read_text(encoding="utf-8"))


@pytest.fixture
def built(settings, fake_embedder):
    return build_index(settings, fake_embedder)


def leftovers(folder) -> list[str]:
    """Temporary or old index generations left next to the index."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".index."))


# ------------------------------------------------------------------ building

def test_build_writes_every_file_with_its_checksum(settings, built):
    files = sorted(p.relative_to(settings.index_dir).as_posix() for p in settings.index_dir.rglob("*") if p.is_file())
    assert MANIFEST in files
    for expected in REQUIRED_FILES:
        assert expected in files
    assert not any(f.startswith("lexicon.") for f in files)  # format 4: no embedded corpus words
    assert any(f.startswith("bm25/") for f in files)
    manifest = manifest_of(settings)
    assert sorted(manifest["files"]) == [f for f in files if f != MANIFEST]
    for rel, digest in manifest["files"].items():
        assert sha256(settings.index_dir / rel) == digest
    assert manifest["model"] == FAKE_MODEL and manifest["dim"] == FakeEmbedder.dim
    assert manifest["n_articles"] == 3 and manifest["n_passages"] == len(built.passages)
    assert set(manifest["sources"]) == {"velo_lyon.txt", "canicule_bordeaux.md", "observatoire.txt"}
    assert manifest["params"]["passage_max_chars"] == settings.passage_max_chars
    assert verify_index(settings.index_dir) == manifest


def test_embeddings_are_unit_vectors(built):
    assert np.allclose(np.linalg.norm(built.embeddings, axis=1), 1.0, atol=1e-5)


def test_bad_files_are_skipped_and_recorded(settings, fake_embedder):
    (settings.corpus_dir / "latin1.txt").write_bytes("café crème".encode("latin-1"))
    messages: list[str] = []
    index = build_index(settings, fake_embedder, messages.append)
    assert "latin1.txt" not in index.articles
    assert "latin1.txt" in index.manifest["skipped"]
    assert any("latin1.txt" in m and "skipped" in m for m in messages)
    assert index_problem(settings.index_dir, settings) is None


def test_build_refuses_a_corpus_without_articles(tmp_path, fake_embedder):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(CorpusError):
        build_index(make_settings(tmp_path / "corpus", tmp_path / "index"), fake_embedder)
    with pytest.raises(CorpusError):
        build_index(make_settings(tmp_path / "missing", tmp_path / "index"), fake_embedder)
    assert not (tmp_path / "index").exists()


def test_build_refuses_a_corpus_without_prose(tmp_path, fake_embedder):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "t.md").write_text("# Un titre\n\nUn intertitre\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no prose"):
        build_index(make_settings(tmp_path / "corpus", tmp_path / "index"), fake_embedder)


# ------------------------------------------------------------------ atomic swaps

def test_swap_leaves_no_temporary_folders(settings, fake_embedder):
    build_index(settings, fake_embedder)
    build_index(settings, fake_embedder)
    assert leftovers(settings.index_dir.parent) == []
    assert index_problem(settings.index_dir, settings) is None


def test_failed_build_keeps_the_old_index_and_no_temporary_folder(settings, built, fake_embedder, monkeypatch):
    before = manifest_of(settings)

    def broken(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_module, "_bm25_index", broken)
    (settings.corpus_dir / "nouveau.txt").write_text(ARTICLE_TRAMWAY, encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"):
        build_index(settings, fake_embedder)
    assert leftovers(settings.index_dir.parent) == []
    assert manifest_of(settings) == before
    assert load_index(settings.index_dir, settings, FAKE_MODEL).passages == built.passages


# ------------------------------------------------------------------ ensure_index

def _flip_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_ensure_index_reuses_a_current_index(settings, built):
    manifest_bytes = (settings.index_dir / MANIFEST).read_bytes()
    stats = {p: p.stat().st_mtime_ns for p in settings.index_dir.rglob("*")}
    embedder = FakeEmbedder()
    messages: list[str] = []
    index = ensure_index(settings, embedder, messages.append)
    assert embedder.document_calls == [] and embedder.query_calls == []
    assert messages == []
    assert (settings.index_dir / MANIFEST).read_bytes() == manifest_bytes
    assert {p: p.stat().st_mtime_ns for p in settings.index_dir.rglob("*")} == stats
    assert index.passages == built.passages


def test_ensure_index_rebuilds_a_stale_index(settings, built):
    (settings.corpus_dir / "nouveau.txt").write_text(ARTICLE_TRAMWAY, encoding="utf-8")
    old = manifest_of(settings)
    embedder = FakeEmbedder()
    messages: list[str] = []
    index = ensure_index(settings, embedder, messages.append)
    assert embedder.document_calls, "the stale index was rebuilt"
    assert any("Building the index" in m and "1 added" in m for m in messages)
    assert "nouveau.txt" in index.articles
    assert manifest_of(settings)["corpus_hash"] != old["corpus_hash"]
    assert index_problem(settings.index_dir, settings) is None


def test_ensure_index_builds_a_missing_index(settings):
    messages: list[str] = []
    index = ensure_index(settings, FakeEmbedder(), messages.append)
    assert len(index.articles) == 3
    assert any("no index" in m for m in messages)


def test_ensure_index_rebuilds_after_model_change(settings, built):
    class OtherEmbedder(FakeEmbedder):
        name = "other-fake"

    index = ensure_index(settings.with_(model="other-fake"), OtherEmbedder())
    assert index.manifest["model"] == "other-fake"


def test_ensure_index_rebuilds_an_index_of_format_3(settings, built):
    """An index written before format 4 (with the embedded corpus words, lexicon.json/.npy) is rebuilt, and
    the rebuilt one holds no lexicon files."""
    manifest = manifest_of(settings)
    (settings.index_dir / "lexicon.json").write_text('{"words": ["piste"], "stems": ["pist"]}', encoding="utf-8")
    np.save(settings.index_dir / "lexicon.npy", np.ones((1, FakeEmbedder.dim), np.float32))
    manifest["format_version"] = 3
    manifest["files"].update({rel: sha256(settings.index_dir / rel) for rel in ("lexicon.json", "lexicon.npy")})
    (settings.index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert "v3" in index_problem(settings.index_dir, settings, FAKE_MODEL)
    messages: list[str] = []
    index = ensure_index(settings, FakeEmbedder(), messages.append)
    assert any(m.startswith("Building the index") and "v3" in m for m in messages)
    assert index.manifest["format_version"] == FORMAT_VERSION == 5
    assert not any(settings.index_dir.glob("lexicon.*"))
    assert index_problem(settings.index_dir, settings, FAKE_MODEL) is None
    assert index.passages == built.passages


def test_ensure_index_rebuilds_a_corrupt_data_file(settings, built):
    _flip_bit(settings.index_dir / "embeddings.npy")
    messages: list[str] = []
    index = ensure_index(settings, FakeEmbedder(), messages.append)
    assert any("checksum" in m for m in messages)
    assert verify_index(settings.index_dir) == index.manifest


def test_ensure_index_rebuilds_a_garbage_manifest(settings, built):
    (settings.index_dir / MANIFEST).write_text("not json at all", encoding="utf-8")
    index = ensure_index(settings, FakeEmbedder())
    assert verify_index(settings.index_dir) == index.manifest


def test_ensure_index_without_corpus_or_index_fails_clearly(tmp_path):
    settings = make_settings(tmp_path / "missing", tmp_path / "index")
    with pytest.raises(QAError) as info:
        ensure_index(settings, FakeEmbedder())
    assert "does not exist" in str(info.value) and "\n" not in str(info.value)


def test_ensure_index_uses_an_index_whose_corpus_is_gone(settings, built, tmp_path):
    moved = tmp_path / "elsewhere"
    settings.corpus_dir.rename(moved)
    embedder = FakeEmbedder()
    index = ensure_index(settings, embedder)
    assert embedder.document_calls == []
    assert index.passages == built.passages


# ------------------------------------------------------------------ add_articles

class CountingEmbedder(FakeEmbedder):
    """The fake model, counting what it is asked to embed."""


def _passage_texts(index, doc):
    return [p.text for p in index.passages if p.doc == doc]


def test_add_new_article_embeds_only_its_passages(settings, built, tmp_path):
    outside = tmp_path / "incoming" / "tramway.md"
    outside.parent.mkdir()
    outside.write_text(ARTICLE_TRAMWAY, encoding="utf-8")
    embedder = CountingEmbedder()
    index = add_articles([outside], settings, embedder)
    # Copied into the corpus, which stays the source of truth.
    assert (settings.corpus_dir / "tramway.md").read_bytes() == outside.read_bytes()
    assert "tramway.md" in index.articles and len(index.articles) == 4
    new_passages = _passage_texts(index, "tramway.md")
    assert new_passages
    # Its passages and its title, nothing of the articles already indexed.
    embedded = embedder.documents_embedded
    assert len(embedded) == len(new_passages) + 1
    assert all(any(p in text for p in new_passages) for text in embedded[:-1])
    assert embedded[-1] == index.articles["tramway.md"].title
    # The others kept their vectors.
    for doc in ("velo_lyon.txt", "canicule_bordeaux.md", "observatoire.txt"):
        old_rows = [p.id for p in built.passages if p.doc == doc]
        new_rows = [p.id for p in index.passages if p.doc == doc]
        assert np.array_equal(built.embeddings[old_rows], index.embeddings[new_rows])
    assert [p.id for p in index.passages] == list(range(len(index.passages)))
    # Current, intact, and loadable as written.
    assert index_problem(settings.index_dir, settings) is None
    loaded = load_index(settings.index_dir, settings, FAKE_MODEL)
    assert loaded.passages == index.passages and loaded.dense.ntotal == len(index.passages)
    assert leftovers(settings.index_dir.parent) == []


def test_add_replaces_an_existing_article(settings, built):
    path = settings.corpus_dir / "observatoire.txt"
    path.write_text("Le télescope géant du plateau de Bure a été rénové cet hiver pour observer les comètes.\n",
                    encoding="utf-8")
    embedder = CountingEmbedder()
    index = add_articles([path], settings, embedder)
    assert len(index.articles) == 3
    assert _passage_texts(index, "observatoire.txt") == [
        "Le télescope géant du plateau de Bure a été rénové cet hiver pour observer les comètes."]
    assert len(embedder.documents_embedded) == 2  # its one passage and its title
    assert not any("héliostat" in p.text for p in index.passages)
    assert index_problem(settings.index_dir, settings) is None


def test_add_from_outside_replaces_the_article_of_the_same_name(settings, built, tmp_path):
    outside = tmp_path / "observatoire.txt"
    outside.write_text("Un autre texte, complet et assez long, sur l’observatoire et ses nouveaux instruments.\n",
                       encoding="utf-8")
    with pytest.raises(CorpusError, match="--replace"):  # another file under an indexed name: only when asked
        add_articles([outside], settings, CountingEmbedder())
    index = add_articles([outside], settings, CountingEmbedder(), replace=True)
    assert (settings.corpus_dir / "observatoire.txt").read_text(encoding="utf-8") == outside.read_text(encoding="utf-8")
    assert len(index.articles) == 3
    assert index_problem(settings.index_dir, settings) is None


def test_add_refuses_a_bad_file_before_copying(settings, built, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(CorpusError, match="bad.txt"):
        add_articles([bad], settings, CountingEmbedder())
    assert not (settings.corpus_dir / "bad.txt").exists()
    assert index_problem(settings.index_dir, settings) is None


def test_add_needs_an_index(tmp_path, corpus_dir):
    settings = make_settings(corpus_dir, tmp_path / "no-index")
    with pytest.raises(IndexStateError):
        add_articles([corpus_dir / "observatoire.txt"], settings, CountingEmbedder())


def test_add_refuses_a_file_the_corpus_would_ignore(settings, built, tmp_path):
    notes = tmp_path / "notes.pdf"
    notes.write_text("Un texte lisible sur les pistes cyclables de Lyon et leur budget.", encoding="utf-8")
    try:
        add_articles([notes], settings, CountingEmbedder())
    except CorpusError:
        pass
    assert index_problem(settings.index_dir, settings) is None
    assert not (settings.corpus_dir / "notes.pdf").exists()


def test_bm25_vocabulary_is_numbered_in_sorted_order():
    """The same corpus gives the same BM25 files whatever Python's hash seed (bm25s numbers terms in set order)."""
    from qa.build import _bm25_index

    bm25 = _bm25_index(["Le budget des pistes cyclables", "The airport runway", ""], ["fr", "en", None])
    by_id = sorted(bm25.vocab_dict, key=bm25.vocab_dict.get)
    assert by_id == sorted(by_id) and len(by_id) > 5
    assert bm25.get_scores(bm25.get_tokens_ids(["budget"]))[0] > 0


def test_an_addition_or_deletion_keeps_a_stale_index_stale(settings, built, tmp_path, fake_embedder):
    """Passages kept by `qa add` or a deletion were read by the code that built the index: an index built by
    other ingestion code stays stale after either (the next `qa ask` rebuilds it), never looks current."""
    import json

    from qa.index import index_problem
    from qa.store import EmbeddedStore

    manifest_path = settings.index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps({**manifest, "ingestion": "older-code"}), encoding="utf-8")
    outside = tmp_path / "incoming" / "tramway.md"
    outside.parent.mkdir()
    outside.write_text(ARTICLE_TRAMWAY, encoding="utf-8")
    index = add_articles([outside], settings, fake_embedder)
    assert index.manifest["ingestion"] == "older-code"
    assert "another version of qa" in index_problem(settings.index_dir, settings, fake_embedder.name)
    store = EmbeddedStore(settings, index)
    store.delete("tramway.md")
    assert store.index.manifest["ingestion"] == "older-code"
    assert "another version of qa" in index_problem(settings.index_dir, settings, fake_embedder.name)


def _expected_titles(index) -> np.ndarray:
    from qa.ingest import title_text

    return FakeEmbedder().encode_documents([title_text(a) for a in index.articles.values()])


def test_every_article_title_has_its_vector_after_build_add_and_delete(settings, built, tmp_path, fake_embedder):
    """titles.npy holds one vector per article, in articles.jsonl's order, whatever writes the index."""
    from qa.store import EmbeddedStore

    assert np.array_equal(built.titles, _expected_titles(built))
    assert built.title_rows == {doc: i for i, doc in enumerate(built.articles)}
    outside = tmp_path / "incoming" / "tramway.md"
    outside.parent.mkdir()
    outside.write_text(ARTICLE_TRAMWAY, encoding="utf-8")
    added = add_articles([outside], settings, fake_embedder)
    assert np.array_equal(added.titles, _expected_titles(added)) and len(added.titles) == 4
    store = EmbeddedStore(settings, added)
    store.delete("velo_lyon.txt")
    assert list(store.index.articles) == ["canicule_bordeaux.md", "observatoire.txt", "tramway.md"]
    assert np.array_equal(store.index.titles, _expected_titles(store.index))
    loaded = load_index(settings.index_dir, settings, FAKE_MODEL)
    assert np.array_equal(loaded.titles, store.index.titles)
    with store.snapshot() as view:
        assert np.array_equal(view.title_vectors(["tramway.md", "observatoire.txt"]),
                              loaded.titles[[loaded.title_rows["tramway.md"], loaded.title_rows["observatoire.txt"]]])


def test_title_vectors_that_do_not_match_the_articles_are_corruption(settings, built):
    """A titles.npy with a row missing (its checksum made to match) is refused with a clear message."""
    np.save(settings.index_dir / "titles.npy", built.titles[:-1])
    manifest = manifest_of(settings)
    manifest["files"]["titles.npy"] = sha256(settings.index_dir / "titles.npy")
    (settings.index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError, match="corrupt.*title vectors"):
        load_index(settings.index_dir, settings, FAKE_MODEL)
