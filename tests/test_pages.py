"""Web pages in (issue 17): saved news pages (tests/data/pages: French and English, with navigation, ads,
comments and scripts) extracted into Markdown articles with front matter, added with `qa add` (a file, a
folder, an http(s) address served by a local http.server, never the internet) and indexed by `qa index`."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import FAKE_MODEL, read_jsonl

from qa import pages
from qa.cli import main
from qa.errors import FetchError, PageError
from qa.frontmatter import read_front_matter

PAGES = Path(__file__).resolve().parent / "data" / "pages"
FR_PAGE = PAGES / "fr_hopitaux_cloud.html"
EN_PAGE = PAGES / "en_council_libraries.html"
BLOG_PAGE = PAGES / "fr_blog_sans_meta.html"
UNDATED_PAGE = PAGES / "en_undated_explainer.html"

# Page chrome of the saved pages: never in a stored article, so never in a quote.
CHROME = ["cookies", "Publicité", "Advertisement", "Abonnez-vous", "Subscribe", "Commentaires", "Comments",
          "Scandaleux", "bookworm_77", "TaxpayerTom", "newsletter", "Sign up", "Mentions légales", "dataLayer",
          "window.", "Partager", "Share on", "Most read", "Sur le même sujet", "Lire aussi", "Read more",
          "Génial", "Laisser un commentaire", "WordPress", "Vélos électriques", "Breaking:", "smart thermostat",
          "Inscrivez-vous", "crédit à taux réduit", "Se connecter", "Accueil", "Catégories"]


def invoke(runner, args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ------------------------------------------------------------------ extraction

@pytest.mark.parametrize("page, expected", [
    (FR_PAGE, {"title": "Données de santé : trois CHU quittent le cloud américain", "author": "Camille Lefort",
               "date": "2024-03-13", "site": "Le Quotidien Numérique", "lang": "fr",
               "url": "https://www.quotidien-numerique.example/sante/donnees-de-sante-trois-chu-quittent-le-cloud-americain"}),
    (EN_PAGE, {"title": "Leeds to open all city libraries on Sundays from April", "author": "Priya Shah",
               "date": "2023-11-21", "site": "Northern Herald", "lang": "en",
               "url": "https://www.northernherald.example/news/leeds-libraries-sunday-opening"}),
    (BLOG_PAGE, {"title": "Le vélo-cargo gagne les écoles de Nantes", "date": "2024-02-05"}),
    (UNDATED_PAGE, {"title": "What is a heat pump and how does it work?", "lang": "en"}),
])
def test_extracted_article_metadata_and_text(page, expected):
    text = pages.extract_page(page.read_text(encoding="utf-8"), page.name)
    front = read_front_matter(text)
    assert front.fields == expected  # no date where the page states none (the explainer): never a guess
    body = text[front.end:]
    for chrome in CHROME:
        assert chrome not in body, chrome
    assert len(body.split()) > 60


def test_page_without_article_text_is_refused():
    with pytest.raises(PageError, match="empty.html: no article text"):
        pages.extract_page("<html><body><nav><a href='/'>Accueil</a></nav></body></html>", "empty.html")


def test_address_file_names():
    assert pages.address_file_name("https://www.example.fr/sante/la-cnil-autorise.html?x=1") == "la-cnil-autorise.md"
    assert pages.address_file_name("https://www.example.fr/") == "www-example-fr.md"


# ------------------------------------------------------------------ qa add / qa index with pages

@pytest.fixture
def opts(corpus_dir, tmp_path):
    return ["--corpus", corpus_dir, "--index", tmp_path / "index", "--model", FAKE_MODEL]


@pytest.fixture
def built(fake_cli, opts):
    result = invoke(fake_cli, ["index", *opts])
    assert result.exit_code == 0, result.stderr


def ask(fake_cli, opts, question, k=10):
    result = invoke(fake_cli, ["ask", "--json", "-k", k, *opts, question])
    assert result.exit_code == 0, result.stderr
    [answer] = read_jsonl(result.stdout)
    return answer


def assert_exact_and_clean(answer, corpus_dir):
    assert answer["citations"]
    for c in answer["citations"]:
        text = (corpus_dir / c["doc"]).read_text(encoding="utf-8")
        assert c["quote"] == text[c["start"]:c["end"]]
        assert c["start"] >= read_front_matter(text).end  # never the front matter
        for chrome in CHROME:
            assert chrome not in c["quote"], chrome


def test_add_saved_page_is_cited_with_its_metadata(fake_cli, opts, corpus_dir, built, tmp_path):
    saved = tmp_path / "saved" / FR_PAGE.name
    saved.parent.mkdir()
    shutil.copy(FR_PAGE, saved)
    result = invoke(fake_cli, ["add", saved, *opts])
    assert result.exit_code == 0, result.stderr
    stored = corpus_dir / "fr_hopitaux_cloud.md"
    assert stored.is_file() and not (corpus_dir / FR_PAGE.name).exists()
    answer = ask(fake_cli, opts, "Combien coûte le contrat des trois CHU avec l'hébergeur certifié ?")
    assert_exact_and_clean(answer, corpus_dir)
    [cited] = [c for c in answer["citations"] if c["doc"] == "fr_hopitaux_cloud.md"][:1]
    assert cited["title"] == "Données de santé : trois CHU quittent le cloud américain"
    assert cited["date"] == "2024-03-13" and cited["date_inferred"] is False and cited["lang"] == "fr"
    assert cited["url"].startswith("https://www.quotidien-numerique.example/sante/")
    # The index is current afterwards: nothing to rebuild.
    assert "up to date" in invoke(fake_cli, ["index", *opts]).stderr


def test_add_a_folder_of_pages(fake_cli, opts, corpus_dir, built, tmp_path):
    folder = tmp_path / "pages"
    shutil.copytree(PAGES, folder)
    result = invoke(fake_cli, ["add", folder, *opts])
    assert result.exit_code == 0, result.stderr
    for page in PAGES.glob("*.html"):
        assert (corpus_dir / f"{page.stem}.md").is_file()
    answer = ask(fake_cli, opts, "When will Leeds libraries open on Sundays?")
    assert_exact_and_clean(answer, corpus_dir)
    by_doc = {c["doc"]: c for c in answer["citations"]}
    assert by_doc["en_council_libraries.md"]["lang"] == "en"
    assert by_doc["en_council_libraries.md"]["date"] == "2023-11-21"


def test_add_with_front_matter_options(fake_cli, opts, corpus_dir, built, tmp_path):
    article = tmp_path / "piscine.txt"
    article.write_text("Le conseil municipal de Nantes a voté mardi un budget de 12 millions d’euros pour la piscine.\n",
                       encoding="utf-8")
    result = invoke(fake_cli, ["add", article, "--title", "La piscine de Nantes", "--date", "2024-05-02",
                               "--author", "Léa Martin", "--lang", "fr", *opts])
    assert result.exit_code == 0, result.stderr
    stored = (corpus_dir / "piscine.txt").read_text(encoding="utf-8")
    assert read_front_matter(stored).fields == {"title": "La piscine de Nantes", "author": "Léa Martin",
                                                "date": "2024-05-02", "lang": "fr"}
    assert article.read_text(encoding="utf-8").startswith("Le conseil")  # the user's file is left as it was
    answer = ask(fake_cli, opts, "budget de la piscine de Nantes")
    [cited] = [c for c in answer["citations"] if c["doc"] == "piscine.txt"]
    assert cited["title"] == "La piscine de Nantes" and cited["date"] == "2024-05-02"
    assert_exact_and_clean(answer, corpus_dir)


def test_front_matter_options_refused_for_several_files_or_a_file_that_has_some(fake_cli, opts, corpus_dir, built, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.md"
    a.write_text("Un premier article sur la piscine municipale de Nantes et son budget annuel.\n", encoding="utf-8")
    b.write_text("---\ntitle: Déjà là\n---\nUn second article sur la médiathèque de Rennes et ses horaires.\n", encoding="utf-8")
    result = invoke(fake_cli, ["add", a, b, "--title", "X", *opts])
    assert result.exit_code == 2 and "one FILE" in one_line(result)
    result = invoke(fake_cli, ["add", b, "--title", "X", *opts])
    assert result.exit_code == 2 and "already has front matter" in one_line(result)
    result = invoke(fake_cli, ["add", a, "--date", "il y a 2 jours", *opts])
    assert result.exit_code == 2 and "not a date" in one_line(result)


def test_index_extracts_pages_in_the_corpus(fake_cli, opts, corpus_dir, tmp_path):
    shutil.copy(EN_PAGE, corpus_dir / EN_PAGE.name)
    (corpus_dir / "own.html").write_text(BLOG_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    (corpus_dir / "own.md").write_text("Mon propre article sur les écoles de Nantes et leurs vélos-cargos.\n", encoding="utf-8")
    result = invoke(fake_cli, ["index", *opts])
    assert result.exit_code == 0, result.stderr
    stored = corpus_dir / "en_council_libraries.md"
    fields = read_front_matter(stored.read_text(encoding="utf-8")).fields
    assert fields["extracted_from"] == EN_PAGE.name and fields["author"] == "Priya Shah"
    # A user's own X.md beside X.html is never overwritten.
    assert "own.html: not extracted" in result.stderr
    assert (corpus_dir / "own.md").read_text(encoding="utf-8").startswith("Mon propre article")
    assert "up to date" in invoke(fake_cli, ["index", *opts]).stderr
    # A changed page makes the index stale and is extracted again.
    page = corpus_dir / EN_PAGE.name
    page.write_text(page.read_text(encoding="utf-8").replace("34 public libraries", "35 public libraries"), encoding="utf-8")
    answer = ask(fake_cli, opts, "How many public libraries will open on Sundays in Leeds?")
    assert "35 public libraries" in stored.read_text(encoding="utf-8")
    assert_exact_and_clean(answer, corpus_dir)


# ------------------------------------------------------------------ fetching from a local server

class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(PAGES), **kwargs)

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/slow.html":
            time.sleep(3)
        elif self.path == "/report.pdf":
            body = b"%PDF-1.4 not a page"
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        elif self.path == "/big.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()  # no Content-Length: the cap is enforced while reading
            try:
                for _ in range(200):
                    self.wfile.write(b"<p>" + b"x" * 10_000 + b"</p>")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
            return
        super().do_GET()


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout, size cap) is what these tests do on purpose


@pytest.fixture
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_a_saved_page(server):
    page = pages.fetch_page(f"{server}/{EN_PAGE.name}")
    assert page.url.endswith(EN_PAGE.name) and "Leeds" in page.html


@pytest.mark.parametrize("path, error, words", [
    ("/report.pdf", PageError, "not an HTML page (the server sent application/pdf)"),
    ("/big.html", PageError, "more than the 100,000-byte limit"),
    ("/slow.html", FetchError, "no answer within 0.5 s"),
    ("/missing.html", FetchError, "HTTP 404"),
    ("/to-file", PageError, "only http:// and https://"),
])
def test_fetch_failures_are_one_clear_error(server, path, error, words):
    with pytest.raises(error) as caught:
        pages.fetch_page(server + path, timeout=0.5, max_bytes=100_000)
    assert words in str(caught.value) and server + path in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("address", ["file:///etc/passwd", "ftp://example.org/a.html"])
def test_other_schemes_are_refused_before_any_request(address):
    with pytest.raises(PageError, match="only http:// and https://"):
        pages.fetch_page(address)


def test_add_an_address(fake_cli, opts, corpus_dir, built, server):
    url = f"{server}/{FR_PAGE.name}"
    result = invoke(fake_cli, ["add", url, *opts])
    assert result.exit_code == 0, result.stderr
    # Named after the page's canonical address; the front matter keeps it and the day it was retrieved.
    stored = corpus_dir / "donnees-de-sante-trois-chu-quittent-le-cloud-americain.md"
    fields = read_front_matter(stored.read_text(encoding="utf-8")).fields
    assert fields["url"].startswith("https://www.quotidien-numerique.example/") and "retrieved" in fields
    answer = ask(fake_cli, opts, "Quand commence la migration des données des CHU ?")
    assert_exact_and_clean(answer, corpus_dir)
    assert stored.name in {c["doc"] for c in answer["citations"]}


@pytest.mark.parametrize("path, code, words", [
    ("/report.pdf", 2, "not an HTML page"),
    ("/missing.html", 1, "HTTP 404"),
    ("/big.html", 2, "limit"),
    ("/slow.html", 1, "no answer within"),
])
def test_add_an_address_that_fails(fake_cli, opts, corpus_dir, built, server, monkeypatch, path, code, words):
    monkeypatch.setattr(pages, "FETCH_TIMEOUT", 0.5)
    monkeypatch.setattr(pages, "MAX_PAGE_BYTES", 100_000)
    before = sorted(p.name for p in corpus_dir.iterdir())
    result = invoke(fake_cli, ["add", server + path, *opts])
    assert result.exit_code == code
    assert result.stderr.splitlines()[0] == f"Fetching {server + path}"
    [line] = [line for line in result.stderr.splitlines() if line.startswith("qa: error:")]
    assert "Traceback" not in result.stderr
    assert words in line and server + path in line
    assert sorted(p.name for p in corpus_dir.iterdir()) == before


def test_add_refuses_a_file_address(fake_cli, opts, built):
    result = invoke(fake_cli, ["add", f"file://{FR_PAGE}", *opts])
    assert result.exit_code == 2
    assert "only http:// and https://" in one_line(result)


def test_json_citations_are_version_2(fake_cli, opts, corpus_dir, built):
    answer = ask(fake_cli, opts, "Quel est le budget des pistes cyclables à Lyon ?")
    for c in answer["citations"]:
        assert list(c)[-2:] == ["lang", "date_inferred"] and c["lang"] == "fr"
    by_doc = {c["doc"]: c for c in answer["citations"]}
    # observatoire.txt has no title line: the JSON says so (null) although people are shown a stand-in.
    if "observatoire.txt" in by_doc:
        assert by_doc["observatoire.txt"]["title"] is None
    json.dumps(answer)


def test_add_a_page_kept_in_the_corpus(fake_cli, opts, corpus_dir, built):
    page = corpus_dir / "sub" / EN_PAGE.name
    page.parent.mkdir()
    shutil.copy(EN_PAGE, page)
    result = invoke(fake_cli, ["add", page, *opts])
    assert result.exit_code == 0, result.stderr
    stored = page.with_suffix(".md")
    assert read_front_matter(stored.read_text(encoding="utf-8")).fields["extracted_from"] == EN_PAGE.name
    # The page counts among the corpus's sources: the index stays current, nothing is extracted twice.
    result = invoke(fake_cli, ["index", *opts])
    assert "up to date" in result.stderr and "Extracted" not in result.stderr


def test_since_and_until(fake_cli, opts, corpus_dir, built):
    # velo_lyon.txt is of 2024-03-04, canicule_bordeaux.md of 2023-06-12, observatoire.txt undated.
    question = "budget écoles pistes cyclables observatoire"
    docs = {c["doc"] for c in ask(fake_cli, [*opts, "--since", "2024"], question)["citations"]}
    assert docs == {"velo_lyon.txt"}
    docs = {c["doc"] for c in ask(fake_cli, [*opts, "--until", "2023-06"], question)["citations"]}
    assert docs == {"canicule_bordeaux.md"}
    assert {c["doc"] for c in ask(fake_cli, opts, question)["citations"]} >= {"observatoire.txt", "velo_lyon.txt"}
    result = invoke(fake_cli, ["ask", *opts, "--since", "bientôt", question])
    assert result.exit_code == 2 and "--since 'bientôt' is not a date" in one_line(result)
    result = invoke(fake_cli, ["ask", *opts, "--since", "2024", "--until", "2023", question])
    assert result.exit_code == 2 and "after --until" in one_line(result)


def test_cli_text_shows_dates_and_undated(fake_cli, opts, built):
    result = invoke(fake_cli, ["ask", "-k", "10", *opts, "budget écoles pistes cyclables observatoire"])
    assert result.exit_code == 0, result.stderr
    assert "4 mars 2024" in result.stdout and "non daté" in result.stdout
    assert "L’observatoire du pic du Midi a installé" in result.stdout  # a stand-in title, not 'observatoire.txt —'


def test_qa_articles_lists_what_citations_show(fake_cli, opts, built):
    result = invoke(fake_cli, ["articles", *opts])
    assert result.exit_code == 0, result.stderr
    assert "velo_lyon.txt  (fr, " in result.stdout and "date:   2024-03-04 (stated)" in result.stdout
    assert "[no title line: its first words]" in result.stdout and "none (undated" in result.stdout
    rows = read_jsonl(invoke(fake_cli, ["articles", "--json", *opts]).stdout)
    by_doc = {r["doc"]: r for r in rows}
    assert by_doc["observatoire.txt"]["title_from"] == "first words" and by_doc["observatoire.txt"]["date_status"] == "none"
    assert by_doc["velo_lyon.txt"]["author"] == "Jeanne Dupont" and by_doc["velo_lyon.txt"]["passages"] > 0


def test_a_page_extracted_again_and_again_keeps_its_text():
    """trafilatura's duplicate cache is process-wide: without a fresh one per page, the fourth extraction
    of a page in one process (`qa add` checks a page, then adds it) lost its text."""
    html = FR_PAGE.read_text(encoding="utf-8")
    first = pages.extract_page(html, FR_PAGE.name)
    for _ in range(5):
        assert pages.extract_page(html, FR_PAGE.name) == first
