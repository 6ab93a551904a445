"""Reliability under bad articles: `qa index` skips them with a warning naming the file, `qa add` refuses
them with exit code 2 and one line naming the file, and the index keeps everything it had and stays usable.

Decided behaviour for HTML: a `.html` file is a web page, taken in as its extracted article (a Markdown
file with front matter written beside it, qa.pages); a `.txt`/`.md` file holding a whole HTML page is
refused (tags cannot be stripped since quotes must be exact slices of the file); inline tags inside a
text or Markdown article are kept as text.
"""

from __future__ import annotations

import json

import pytest
from conftest import FAKE_MODEL, read_jsonl

from qa.cli import main
from qa.generation import MANIFEST, leftovers

GOOD_EXTRA = "Le conseil municipal de Nantes a adopté mardi un budget de 12 millions d’euros pour rénover la piscine Léo-Lagrange.\n"
HTML_PAGE = "<!DOCTYPE html>\n<html><head><title>Piscine</title></head><body><p>" + GOOD_EXTRA + "</p></body></html>\n"
FIFTY_MB = 50 * 1024 * 1024

# name → (bytes, words expected in the message)
BAD_FILES = {
    "latin1.txt": ("Le budget de la médiathèque atteint trois millions d’euros.".replace("’", "'").encode("latin-1"), "not UTF-8"),
    "empty.txt": (b"", "empty"),
    "blank.md": (b"  \n\n\t \n", "whitespace"),
    "binary.txt": (bytes(range(256)) * 16, "binary"),
    "page.txt": (HTML_PAGE.encode(), "HTML page"),
    "utf16.txt": (GOOD_EXTRA.encode("utf-16"), "not UTF-8"),
}


def invoke(runner, args, input=None):
    return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture
def opts(corpus_dir, tmp_path):
    return ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--model", FAKE_MODEL]


def manifest(tmp_path) -> dict:
    return json.loads((tmp_path / "index" / MANIFEST).read_text(encoding="utf-8"))


def assert_usable(runner, opts, corpus_dir, n_articles):
    """`qa index --check` healthy, and `qa ask --json` answers with exact quotes from the corpus files."""
    check = invoke(runner, ["index", "--check", *opts])
    assert check.exit_code == 0, check.stderr
    assert "healthy" in check.stdout and f"from {n_articles} articles" in check.stdout
    ask = invoke(runner, ["ask", "--json", *opts, "Quel est le budget des pistes cyclables à Lyon ?"])
    assert ask.exit_code == 0, ask.stderr
    [answer] = read_jsonl(ask.stdout)
    assert answer["citations"]
    for c in answer["citations"]:
        assert c["quote"] == (corpus_dir / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]
    assert "Building" not in ask.stderr  # the index was current: nothing rebuilt


def one_line_naming(result, name):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "Traceback" not in result.stderr
    return lines[0]


# ------------------------------------------------------------------ qa index: skipped with a warning

def test_index_skips_every_bad_file_with_a_warning_naming_it(fake_cli, corpus_dir, opts, tmp_path):
    for name, (data, _words) in BAD_FILES.items():
        (corpus_dir / name).write_bytes(data)
    with (corpus_dir / "huge.txt").open("wb") as f:  # 50 MB of text
        f.write(("Une phrase de remplissage sur la piscine municipale. " * 1000 + "\n").encode() * (FIFTY_MB // 54_001 + 1))
    (corpus_dir / "page.html").write_text(HTML_PAGE, encoding="utf-8")
    result = invoke(fake_cli, ["index", *opts])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    for name, (_data, words) in BAD_FILES.items():
        [line] = [w for w in warnings if f"{name}:" in w]
        assert "skipped" in line and words in line, line
    [huge] = [w for w in warnings if "huge.txt" in w]
    assert "limit" in huge
    # The saved page is no bad file: its article is extracted into page.md and indexed.
    assert not [w for w in warnings if "page.html" in w]
    assert "Extracted the article of page.html into page.md" in result.stderr
    m = manifest(tmp_path)
    assert m["n_articles"] == 4
    assert set(m["skipped"]) == {*BAD_FILES, "huge.txt"}
    assert_usable(fake_cli, opts, corpus_dir, 4)
    # The skipped files count in the corpus state: the index is not stale because of them.
    assert "up to date" in invoke(fake_cli, ["index", *opts]).stderr


def test_index_names_with_spaces_and_accents(fake_cli, corpus_dir, opts):
    (corpus_dir / "sous dossier").mkdir()
    (corpus_dir / "sous dossier" / "Piscine de Nantes — été 2024.txt").write_text(GOOD_EXTRA, encoding="utf-8")
    (corpus_dir / "e\u0301te\u0301 décomposé.md").write_text(GOOD_EXTRA.replace("Nantes", "Rennes"), encoding="utf-8")
    assert invoke(fake_cli, ["index", *opts]).exit_code == 0
    ask = invoke(fake_cli, ["ask", "--json", "-k", "10", *opts, "budget de la piscine Léo-Lagrange"])
    [answer] = read_jsonl(ask.stdout)
    docs = {c["doc"] for c in answer["citations"]}
    assert "sous dossier/Piscine de Nantes — été 2024.txt" in docs
    assert "e\u0301te\u0301 décomposé.md" in docs
    for c in answer["citations"]:
        assert c["quote"] == (corpus_dir / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]


def test_index_warns_about_a_duplicate_and_cites_both(fake_cli, corpus_dir, opts, tmp_path):
    (corpus_dir / "copie de velo.txt").write_bytes((corpus_dir / "velo_lyon.txt").read_bytes())
    result = invoke(fake_cli, ["index", *opts])
    assert result.exit_code == 0
    [line] = [w for w in result.stderr.splitlines() if "duplicate" in w]
    assert line.startswith("warning:") and "copie de velo.txt" in line and "velo_lyon.txt" in line
    assert manifest(tmp_path)["n_articles"] == 4
    assert_usable(fake_cli, opts, corpus_dir, 4)


def test_a_text_article_with_inline_tags_is_indexed_as_text(fake_cli, corpus_dir, opts):
    text = "La piscine <b>Léo-Lagrange</b> rouvrira en <em>juin</em>, après huit mois de travaux de rénovation.\n"
    (corpus_dir / "balises.md").write_text(text, encoding="utf-8")
    assert invoke(fake_cli, ["index", *opts]).exit_code == 0
    ask = invoke(fake_cli, ["ask", "--json", "-k", "1", *opts, "Quand la piscine Léo-Lagrange rouvrira-t-elle ?"])
    [answer] = read_jsonl(ask.stdout)
    c = answer["citations"][0]
    assert c["doc"] == "balises.md" and "<b>Léo-Lagrange</b>" in c["quote"]
    assert c["quote"] == text[c["start"]:c["end"]]


# ------------------------------------------------------------------ qa add: refused with exit 2

@pytest.fixture
def built(fake_cli, opts, tmp_path):
    result = invoke(fake_cli, ["index", *opts])
    assert result.exit_code == 0, result.stderr
    return manifest(tmp_path)


def assert_unchanged(fake_cli, opts, corpus_dir, tmp_path, before):
    after = manifest(tmp_path)
    assert after["generation"] == before["generation"] and after["files"] == before["files"]
    assert sorted(p.name for p in corpus_dir.iterdir()) == ["canicule_bordeaux.md", "observatoire.txt", "velo_lyon.txt"]
    assert leftovers(tmp_path / "index") == []
    assert_usable(fake_cli, opts, corpus_dir, 3)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_add_refuses_a_bad_file(fake_cli, corpus_dir, opts, tmp_path, built, name):
    data, words = BAD_FILES[name]
    bad = tmp_path / "incoming" / name
    bad.parent.mkdir()
    bad.write_bytes(data)
    result = invoke(fake_cli, ["add", bad, *opts])
    assert result.exit_code == 2
    assert words in one_line_naming(result, name)
    assert_unchanged(fake_cli, opts, corpus_dir, tmp_path, built)


def test_add_refuses_a_50_mb_file(fake_cli, corpus_dir, opts, tmp_path, built):
    big = tmp_path / "énorme fichier.txt"
    with big.open("wb") as f:
        f.truncate(FIFTY_MB)  # sparse: 50 MB of NUL bytes, refused on its size before it is read
    result = invoke(fake_cli, ["add", big, *opts])
    assert result.exit_code == 2
    assert "limit" in one_line_naming(result, "énorme fichier.txt")
    assert_unchanged(fake_cli, opts, corpus_dir, tmp_path, built)


@pytest.mark.parametrize("name", ["notes.pdf", ".cache.txt", "sans-extension"])
def test_add_refuses_what_is_not_an_article_file(fake_cli, corpus_dir, opts, tmp_path, built, name):
    path = tmp_path / name
    path.write_text(GOOD_EXTRA, encoding="utf-8")
    result = invoke(fake_cli, ["add", path, *opts])
    assert result.exit_code == 2
    assert "not an article file" in one_line_naming(result, name)
    assert_unchanged(fake_cli, opts, corpus_dir, tmp_path, built)


def test_add_refuses_a_duplicate_under_another_name(fake_cli, corpus_dir, opts, tmp_path, built):
    copy = tmp_path / "copie.txt"
    copy.write_bytes((corpus_dir / "observatoire.txt").read_bytes())
    result = invoke(fake_cli, ["add", copy, *opts])
    assert result.exit_code == 2
    line = one_line_naming(result, "copie.txt")
    assert "same content as observatoire.txt" in line and "duplicate" in line
    assert_unchanged(fake_cli, opts, corpus_dir, tmp_path, built)


def test_add_the_same_file_twice(fake_cli, corpus_dir, opts, tmp_path, built):
    new = tmp_path / "piscine à Nantes.txt"
    new.write_text(GOOD_EXTRA, encoding="utf-8")
    first = invoke(fake_cli, ["add", new, *opts])
    assert first.exit_code == 0, first.stderr
    after_first = manifest(tmp_path)
    assert after_first["n_articles"] == 4
    second = invoke(fake_cli, ["add", new, *opts])
    assert second.exit_code == 2
    assert "already in the index" in one_line_naming(second, "piscine à Nantes.txt")
    assert manifest(tmp_path)["generation"] == after_first["generation"]
    both = invoke(fake_cli, ["add", new, new, *opts])
    assert both.exit_code == 2 and "piscine à Nantes.txt" in both.stderr
    assert_usable(fake_cli, opts, corpus_dir, 4)


def test_add_is_all_or_nothing(fake_cli, corpus_dir, opts, tmp_path, built):
    good = tmp_path / "bonne.txt"
    good.write_text(GOOD_EXTRA, encoding="utf-8")
    bad = tmp_path / "mauvaise.txt"
    bad.write_bytes(b"\xff\xfe\x00")
    result = invoke(fake_cli, ["add", good, bad, *opts])
    assert result.exit_code == 2
    one_line_naming(result, "mauvaise.txt")
    assert not (corpus_dir / "bonne.txt").exists()  # nothing copied: the corpus still matches the index
    assert_unchanged(fake_cli, opts, corpus_dir, tmp_path, built)


def test_add_refuses_an_article_without_prose(fake_cli, corpus_dir, opts, tmp_path, built):
    only_titles = tmp_path / "titres.md"
    only_titles.write_text("# Un titre\n\n## Un intertitre\n", encoding="utf-8")
    result = invoke(fake_cli, ["add", only_titles, *opts])
    assert result.exit_code == 2
    assert "no prose" in one_line_naming(result, "titres.md")
    assert_unchanged(fake_cli, opts, corpus_dir, tmp_path, built)


def test_add_a_name_with_spaces_and_accents(fake_cli, corpus_dir, opts, tmp_path, built):
    new = tmp_path / "Piscine Léo-Lagrange — été.txt"
    new.write_text(GOOD_EXTRA, encoding="utf-8")
    result = invoke(fake_cli, ["add", new, *opts])
    assert result.exit_code == 0, result.stderr
    ask = invoke(fake_cli, ["ask", "--json", "-k", "1", *opts, "budget de la piscine Léo-Lagrange"])
    [answer] = read_jsonl(ask.stdout)
    assert answer["citations"][0]["doc"] == "Piscine Léo-Lagrange — été.txt"
    assert_usable(fake_cli, opts, corpus_dir, 4)
