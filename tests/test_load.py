"""qa.load: UTF-8 text articles only, with messages that name the refused file."""

from __future__ import annotations

import pytest

from qa import load
from qa.errors import CorpusError, InputError
from qa.load import article_files, corpus_hash, doc_name, load_corpus, read_article

GOOD = "Le conseil municipal a voté le budget de la nouvelle médiathèque.\n"


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_reads_text_exactly_as_the_contract_does(tmp_path):
    raw = "\ufeffL’été\u00a0: « bonjour »\r\nsecond line\n"
    path = write(tmp_path / "a.txt", raw.encode("utf-8"))
    article = read_article(path, tmp_path)
    assert article.text == path.read_text(encoding="utf-8")
    assert article.doc == "a.txt"


@pytest.mark.parametrize("name, data, reason", [
    ("latin1.txt", "Le café était fermé.".encode("latin-1"), "not UTF-8"),
    ("empty.txt", b"", "empty"),
    ("binary.txt", b"PK\x03\x04\x00\x00binary\x00data", "binary"),
    ("blank.txt", b"  \n\t\r\n   \n", "whitespace"),
])
def test_bad_files_are_refused_with_their_name(tmp_path, name, data, reason):
    path = write(tmp_path / name, data)
    with pytest.raises(CorpusError) as info:
        read_article(path, tmp_path)
    message = str(info.value)
    assert name in message and reason in message
    assert "\n" not in message
    assert isinstance(info.value, InputError) and info.value.exit_code == 2


def test_too_big_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(load, "MAX_ARTICLE_BYTES", 100)
    path = write(tmp_path / "big.txt", "mot " * 30)
    with pytest.raises(CorpusError, match=r"big\.txt.*limit"):
        read_article(path, tmp_path)
    write(tmp_path / "small.txt", "petit texte")
    assert read_article(tmp_path / "small.txt", tmp_path).text == "petit texte"


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_article(tmp_path / "nope.txt", tmp_path)


def test_article_files_filters_and_sorts(tmp_path):
    write(tmp_path / "b.txt", GOOD)
    write(tmp_path / "a.md", GOOD)
    write(tmp_path / "c.MARKDOWN", GOOD)
    write(tmp_path / "d.TXT", GOOD)
    write(tmp_path / "notes.pdf", GOOD)
    write(tmp_path / "image.png", b"\x89PNG")
    write(tmp_path / ".hidden.txt", GOOD)
    write(tmp_path / ".git" / "x.txt", GOOD)
    write(tmp_path / "sub" / ".draft" / "y.txt", GOOD)
    write(tmp_path / "sub" / "z.txt", GOOD)
    (tmp_path / "folder.txt").mkdir()
    names = [doc_name(p, tmp_path) for p in article_files(tmp_path)]
    assert names == ["a.md", "b.txt", "c.MARKDOWN", "d.TXT", "sub/z.txt"]


def test_names_with_spaces_and_accents(tmp_path):
    write(tmp_path / "Revue de presse" / "été 2024 – l’hôpital.md", GOOD)
    [article] = load_corpus(tmp_path)
    assert article.doc == "Revue de presse/été 2024 – l’hôpital.md"
    assert (tmp_path / article.doc).read_text(encoding="utf-8") == article.text


def test_load_corpus_skips_bad_files_with_a_warning(tmp_path):
    write(tmp_path / "good.txt", GOOD)
    write(tmp_path / "latin1.txt", "café".encode("latin-1"))
    write(tmp_path / "empty.md", b"")
    write(tmp_path / "ignored.pdf", b"%PDF-1.4\x00")
    warnings: list[str] = []
    articles = load_corpus(tmp_path, warn=warnings.append)
    assert [a.doc for a in articles] == ["good.txt"]
    assert len(warnings) == 2
    assert any("latin1.txt" in w for w in warnings) and any("empty.md" in w for w in warnings)
    assert not any("ignored.pdf" in w for w in warnings)


def test_load_corpus_with_nothing_readable(tmp_path):
    write(tmp_path / "empty.txt", b"")
    with pytest.raises(CorpusError, match="no readable article"):
        load_corpus(tmp_path)


def test_missing_corpus_folder(tmp_path):
    with pytest.raises(CorpusError, match="corpus folder not found"):
        article_files(tmp_path / "nowhere")
    with pytest.raises(CorpusError):
        load_corpus(tmp_path / "nowhere")


def test_corpus_hash_tracks_names_and_bytes(tmp_path):
    write(tmp_path / "a.txt", GOOD)
    first = corpus_hash(tmp_path)
    assert corpus_hash(tmp_path) == first
    write(tmp_path / "a.txt", GOOD + "x")
    assert corpus_hash(tmp_path) != first
    write(tmp_path / "a.txt", GOOD)
    assert corpus_hash(tmp_path) == first
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    assert corpus_hash(tmp_path) != first
