"""The web page (qa/web.py): its handlers in process, and the /ask API and routes of a real running app
called with gradio_client and httpx. Its HTML is tested in test_web_html.py, its notes in
test_web_notes.py, `qa serve` and app.py in test_web_server.py, the page in a browser in test_browser.py.

The app runs in this process on a free local port, over a tiny corpus written to a temporary folder
and conftest's FakeEmbedder (hashing, no model load): a few seconds in all.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import FAKE_MODEL, ROOT, FakeEmbedder  # noqa: E402  (the suite's hashing stand-in for the model)

from qa import web, web_html, web_server  # noqa: E402
from qa.records import Answer  # noqa: E402

CONTRACT_KEYS = ["question", "language", "found", "confidence", "answer", "citations"]
CITATION_KEYS = ["n", "doc", "title", "url", "date", "start", "end", "quote", "score", "lang", "date_inferred"]

# A tiny corpus: two ordinary articles and one whose text is full of markup that must stay text.
CORPUS = {
    "cnil.txt": (
        "La CNIL autorise l'hébergement des données de santé par Microsoft\n"
        "https://example.org/cnil-microsoft\n"
        "Par Jeanne Martin | 18 février 2024\n\n"
        "Faute de prestataire européen, la CNIL a accepté l'hébergement des données de santé chez Microsoft "
        "pour une durée de trois ans.\n\n"
        "La CNIL a accepté parce qu'aucun prestataire européen ne protège les données contre les lois "
        "extraterritoriales américaines.\n\n"
        "Le projet EMC2 rassemble les données de quatre grands hôpitaux français.\n"
    ),
    "recours.txt": (
        "Un recours devant le Conseil d'État contre le Health Data Hub\n"
        "Par Paul Durand | 4 mars 2024\n\n"
        "L'association Internet Society France a déposé un recours auprès du Conseil d'État pour obtenir "
        "l'annulation de la délibération de la CNIL.\n\n"
        "L'avocate France Charruyer porte le recours devant le Conseil d'État au nom de l'association.\n"
    ),
    "piege.txt": (
        "Balises <b>piégées</b> dans un titre\n\n"
        "Le pirate écrivit <script>alert('xss')</script> dans le forum des zebrules, puis "
        "<img src=x onerror=alert(1)> et un lien [cliquez](javascript:alert(2)) vers les zebrules.\n\n"
        "Les zebrules aiment aussi ${1+1} et {{value}} dans leurs messages sur les zebrules.\n"
    ),
    # A long article (a tide table, unlike the others' words) whose cited sentence comes last, after astral
    # characters (🌊 is two JavaScript string units): the source viewer must cut the quote at the right place
    # and scroll down to it.
    "phare.txt": (
        "Le phare de Cordouan, sentinelle de l'estuaire\n"
        "Par Luc Marin | 25 février 2024\n\n"
        + "".join(f"Marée {i} 🌊 : pleine mer à {4 + i % 19:02d} h {(7 * i) % 60:02d}, coefficient {40 + (3 * i) % 75}.\n"
                  + ("\n" if i % 6 == 0 else "") for i in range(1, 121))
        + "\nLe phare de Cordouan a été inscrit au patrimoine mondial de l'UNESCO en juillet 2021.\n"
    ),
}

FRENCH = "pourquoi la CNIL a-t-elle accepté ?"
ENGLISH = "Who filed an appeal with the Conseil d'État?"
UNANSWERABLE = "Quel temps fera-t-il demain à Lyon ?"
EXAMPLES = [FRENCH, ENGLISH, UNANSWERABLE]
LIGHTHOUSE = "Quand le phare de Cordouan a-t-il été inscrit au patrimoine mondial de l'UNESCO ?"
TRAP = "Que disent les zebrules du pirate ?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_qa(folder: Path):
    """A QA session over the tiny corpus, with the fake embedder and a cosine floor that suits it."""
    from qa.service import QA
    from qa.settings import Settings

    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (corpus / ".qa").mkdir(exist_ok=True)
    (corpus / ".qa" / "examples.txt").write_text("# the page's examples\n" + "\n".join(EXAMPLES) + "\n", encoding="utf-8")
    settings = replace(Settings(), corpus_dir=corpus, index_dir=folder / "index", model=FAKE_MODEL,
                       min_confidence=0.0)  # every question answered: the page is tested, not abstention
    return QA(settings, embedder=FakeEmbedder())


def start_app(folder: Path):
    """(qa, demo, url): the real page served on a free local port, as `qa serve` would serve it."""
    qa = make_qa(folder)
    demo = web_server.serve(qa=qa, port=free_port(), block=False, progress=lambda _m: None)
    return qa, demo, f"http://127.0.0.1:{demo.server_port}/"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    qa, demo, url = start_app(tmp_path_factory.mktemp("web"))
    yield qa, demo, url
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app[2], verbose=False)


def article_text(qa, doc: str) -> str:
    return (qa.settings.corpus_dir / doc).read_text(encoding="utf-8")


def check_contract(qa, result: dict, question: str) -> None:
    assert list(result) == CONTRACT_KEYS
    assert result["question"] == question
    assert isinstance(result["found"], bool) and isinstance(result["answer"], str) and result["answer"]
    for i, c in enumerate(result["citations"], start=1):
        assert list(c) == CITATION_KEYS
        assert c["n"] == i
        assert c["quote"] == article_text(qa, c["doc"])[c["start"]:c["end"]]
        assert c["date"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", c["date"])


# ---------------------------------------------------------------- the running app, through gradio_client

def test_api_french_question(app, client):
    qa = app[0]
    result = client.predict(FRENCH, api_name="/ask")
    check_contract(qa, result, FRENCH)
    assert result["language"] == "fr" and result["found"] is True
    assert result["answer"].startswith("D'après les articles")
    assert "[1]" in result["answer"]
    assert result["citations"][0]["doc"] == "cnil.txt"
    assert result == qa.ask(FRENCH).to_json()  # what `qa ask --json` prints


def test_api_english_question(app, client):
    result = client.predict(ENGLISH, 5, "hybrid", api_name="/ask")
    check_contract(app[0], result, ENGLISH)
    assert result["language"] == "en"
    assert result["answer"].startswith("According to the articles") if result["found"] else result["answer"]
    assert any(c["doc"] == "recours.txt" for c in result["citations"])


def test_api_date_window(app, client):
    """/ask takes the page's and the CLI's date window: only articles dated within it are cited."""
    docs = {c["doc"] for c in client.predict(FRENCH, 5, "hybrid", "2024-03", "", api_name="/ask")["citations"]}
    assert docs == {"recours.txt"}  # the one article of March 2024
    docs = {c["doc"] for c in client.predict(FRENCH, 5, "hybrid", "", "2024-02-20", api_name="/ask")["citations"]}
    assert docs == {"cnil.txt"}
    assert "since" in client.predict(FRENCH, 5, "hybrid", "bientôt", "", api_name="/ask")["error"]


def test_api_invalid_question(client):
    assert client.predict("", api_name="/ask") == {"question": "", "error": "please ask a question: it has no words"}
    result = client.predict("  ?! 42 ", api_name="/ask")
    assert list(result) == ["question", "error"] and result["error"]


def test_api_settings(app, client):
    result = client.predict(FRENCH, 2, "lexical", api_name="/ask")
    check_contract(app[0], result, FRENCH)
    assert 1 <= len(result["citations"]) <= 2
    assert "error" in client.predict(FRENCH, 5, "telepathy", api_name="/ask")
    assert "error" in client.predict(FRENCH, 11, "hybrid", api_name="/ask")


@pytest.mark.parametrize("k", ["inf", "Infinity", "-inf", "nan", 2.5, True, [3]])
def test_api_refuses_a_bad_number_of_passages_in_one_clear_line(client, k, caplog):
    """Issue 19: `k = "inf"` answered "Something went wrong" and logged an OverflowError trace."""
    with caplog.at_level(logging.ERROR):
        result = client.predict(FRENCH, k, "hybrid", api_name="/ask")
    assert result == {"question": FRENCH, "error": f"the number of passages must be a whole number between 1 and {web.MAX_PASSAGES}"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_api_unanswerable(app, client):
    qa = app[0]
    answering = qa.settings
    qa.settings = answering.with_(min_confidence=1.0)  # no confidence reaches 1: the articles "do not answer"
    try:
        result = client.predict(UNANSWERABLE, api_name="/ask")
    finally:
        qa.settings = answering
    check_contract(qa, result, UNANSWERABLE)
    assert result["found"] is False and 0.0 <= result["confidence"] < 1.0
    assert result["answer"] == "Les articles ne permettent pas de répondre à cette question."


def test_server_settings(app):
    _qa, demo, url = app
    assert url.startswith("http://127.0.0.1:") and demo.server_name == "127.0.0.1"
    assert demo.share is False and demo.analytics_enabled is False
    assert demo._queue.max_size == web.QUEUE_SIZE
    limits = {fn.api_name: fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == "qa"}
    assert "ask" in limits and set(limits.values()) == {web.CONCURRENCY}


def test_page_and_theme_fetch_nothing_external(app):
    import httpx

    url = app[2]
    page = httpx.get(url, timeout=10).text
    css = httpx.get(url + "theme.css", timeout=10).text
    for text in (page, css):
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text and "@import url(" not in text
    assert "system-ui" in css


def _get_raw(port: int, path: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte as given (no client-side normalizing of '..' or %-escapes)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _path_variants(target: Path) -> list[str]:
    """Ways of spelling a file's path after `file=`: absolute, relative with '..', %-encoded, double-encoded,
    case-changed, backslashed."""
    import os
    from urllib.parse import quote

    absolute = str(target)
    relative = os.path.relpath(absolute, Path.cwd())
    climb = "../" * 12 + absolute.lstrip("/")
    variants = [absolute, "/" + absolute, relative, climb, "./" + relative,
                quote(absolute, safe=""), quote(climb, safe=""),
                climb.replace("../", "%2e%2e%2f"), climb.replace("../", "%2E%2E%2F"), climb.replace("../", "..%2f"),
                climb.replace("../", "%252e%252e%252f"), climb.replace("/", "\\"), climb.replace("../", "....//"),
                absolute.upper(), relative.swapcase()]
    return list(dict.fromkeys(variants))


def test_nothing_served_from_disk(app):
    """No route hands out the index, the model, the corpus or system files, however the path is spelt."""
    qa, demo, _url = app
    from conftest import ROOT

    model_dir = Path.home() / ".cache" / "qa" / "models"
    model_files = sorted(p for p in model_dir.rglob("*.json") if p.stat().st_size >= 64)[:1] if model_dir.is_dir() else []
    targets = [qa.settings.index_dir / "manifest.json", qa.settings.index_dir / "articles.jsonl",
               qa.settings.corpus_dir / "cnil.txt", Path("/etc/passwd"), *model_files,
               *[p for p in (ROOT / "index" / "manifest.json", ROOT / "seeds" / "000_11cc51aeb40a3ec8.txt") if p.is_file()]]
    prefixes = ["/file=", "/gradio_api/file=", "/FILE=", "/Gradio_Api/File=", "/gradio_api/FILE=", "/gradio_api/file/",
                "/gradio_api/file%3d", "/static/", "/assets/", "/gradio_api/static/", "/favicon.ico/../", "/"]
    served = []
    probes = 0
    for target in targets:
        data = target.read_bytes()
        assert len(data) >= 40, target
        chunk = data[:200]
        for variant in _path_variants(target):
            for prefix in prefixes:
                status, body = _get_raw(demo.server_port, prefix + variant)
                probes += 1
                if chunk in body or status not in (400, 403, 404, 405, 422):
                    served.append(f"{status} {prefix + variant}")
    assert probes > 500
    assert served == [], f"{len(served)} of {probes} requests were not refused: {served[:10]}"


def test_uploads_are_refused_beyond_a_tiny_limit(app):
    """The page has no upload, but Gradio's upload route exists: it must not take a large file (disk filling)."""
    import httpx

    _qa, demo, url = app
    big = httpx.post(url + "gradio_api/upload", files={"files": ("big.txt", b"a" * (web_server.MAX_UPLOAD_BYTES + 1), "text/plain")},
                     timeout=30)
    assert big.status_code == 413, (big.status_code, big.text[:200])
    assert web_server.MAX_UPLOAD_BYTES <= 64 * 1024


# ---------------------------------------------------------------- page handler (in process)

def test_page_html_escapes_article_markup(app):
    qa = app[0]
    page = web.ask_page(qa, TRAP, 5, "hybrid")
    assert "piege.txt" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "javascript:" not in re.sub(r"\[cliquez\]\(javascript:alert\(2\)\)", "", page.replace("&#x27;", "'"))
    assert "${1+1}" in page and "{{value}}" in page  # shown as typed, not evaluated


def test_page_errors_are_readable(app):
    assert "please ask a question" in web.ask_page(app[0], "   ", 5, "hybrid")
    assert "qa-error" in web.ask_page(app[0], "", 5, "hybrid")
    assert "Impossible de répondre · Cannot answer" in web.ask_page(app[0], "   ", 5, "hybrid")
    english = web.ask_page(app[0], "   ", 5, "hybrid", "en")
    assert "Cannot answer" in english and "Impossible" not in english
    assert "Impossible de répondre" in web.ask_page(app[0], "x" * 20_000, 5, "hybrid", "fr")
    assert "qa-error" in web.ask_page(app[0], FRENCH, 5, "hybrid", ["en"])
    busy = web_html.busy_html()
    assert "qa-busy" in busy and "Le serveur est occupé" in busy and "The server is busy" in busy

    class Broken:
        settings = app[0].settings

        def ask(self, *args, **kwargs):
            raise RuntimeError("secret internals /home/user/index")

    page = web.ask_page(Broken(), FRENCH, 5, "hybrid")
    assert web_html.esc(web.GENERIC_ERROR) in page and "secret" not in page
    assert web.ask_json(Broken(), FRENCH) == {"question": FRENCH, "error": web.GENERIC_ERROR}


# ---------------------------------------------------------------- pure functions


def test_interface_language_setting():
    french = Answer(FRENCH, "fr", True, "D'après les articles :\n\n> La CNIL a accepté. [1]")
    assert web.ui_language(french, "auto") == "fr" and web.ui_language(french, "en") == "en"
    with pytest.raises(Exception, match="interface language"):
        web.ui_language(french, "de")


def test_page_handler_language_setting(app):
    qa = app[0]
    english = web.ask_page(qa, FRENCH, 5, "hybrid", "en")
    assert "<p>According to the articles:</p>" in english and "Show in article" in english
    assert 'data-language="fr"' in english
    assert "<p>D&#x27;après les articles :</p>" in web.ask_page(qa, FRENCH, 5, "hybrid", "auto")
    assert "qa-error" in web.ask_page(qa, FRENCH, 5, "hybrid", "klingon")
    answering = qa.settings
    qa.settings = answering.with_(min_confidence=1.0)  # a refusal, shown in the interface language
    try:
        assert "Les articles ne permettent pas" in web.ask_page(qa, "What will the weather be in Lyon tomorrow?", 5,
                                                                "hybrid", "fr")
    finally:
        qa.settings = answering


def test_header_says_what_the_corpus_is(app):
    summary = web_html.corpus_summary(app[0].index)
    assert summary["n_articles"] == len(CORPUS) == 4
    header = web_html.header_html(summary)
    # Honest: the range of the dated articles, and how many have no date.
    assert summary["n_undated"] == 1 and summary["n_inferred"] == 0 and summary["langs"] == ["fr"]
    assert "4 articles de presse français (18 février – 4 mars 2024 ; 1 non daté)" in header
    assert "4 French news articles (18 February – 4 March 2024; 1 undated)" in header


def test_examples_come_from_the_corpus_folder(tmp_path):
    from qa.service import example_questions

    corpus = tmp_path / "c"
    (corpus / ".qa").mkdir(parents=True)
    catalog = [{"title": "Le maire démissionne", "title_from": "stated"},
               {"title": "Faute de budget, la ville…", "title_from": "first words"}]
    # without a file: the titles the articles state (not stand-ins made of their first words)
    assert example_questions(corpus, catalog) == ["Le maire démissionne"]
    (corpus / ".qa" / "examples.txt").write_text("# comment\nPourquoi le maire part-il ?\n\nWho replaces him?\n",
                                                 encoding="utf-8")
    assert example_questions(corpus, catalog) == ["Pourquoi le maire part-il ?", "Who replaces him?"]


def test_the_shipped_corpus_has_its_examples():
    from qa.service import example_questions

    assert "pourquoi la CNIL a-t-elle accepté ?" in example_questions(ROOT / "seeds", [])


