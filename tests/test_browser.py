"""The page in a real browser: Playwright for Python driving Debian's chromium, headless.

Same app as tests/test_web.py (tiny corpus, hashing embedder, a free local port). It types a question
and presses Enter, clicks an example, asks an unanswerable and an invalid question, copies for
notes (clipboard and .md download), checks that article markup stays text and that the page asks
nothing of the internet; screenshots (desktop light, phone dark) go to test-output/screenshots/.

Needs `apt-get install -y chromium` and `pip install playwright` (no Playwright browser download:
the system chromium is used); skipped with the reason when either is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("QA_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium, or set QA_CHROMIUM)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)")

expect = sync_api.expect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_web import CORPUS, ENGLISH, FRENCH, LIGHTHOUSE, TRAP, UNANSWERABLE, make_qa, start_app  # noqa: E402
from test_web import free_port as test_web_free_port  # noqa: E402

from qa import web, web_notes, web_server  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    qa, demo, url = start_app(tmp_path_factory.mktemp("browser"))
    yield qa, url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def open_page(browser, url: str, viewport=DESKTOP, scheme: str = "light"):
    """A fresh context and page on the app; records non-local requests and JS dialogs (there must be none)."""
    context = browser.new_context(viewport=viewport, color_scheme=scheme, accept_downloads=True,
                                  is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.external = []
    page.dialogs = []
    page.on("request", lambda r: page.external.append(r.url)
            if not r.url.startswith((url.rstrip("/"), "blob:", "data:")) else None)
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(url + ("?__theme=dark" if scheme == "dark" else ""))
    for selector in ("#qa-question textarea", "#qa-ask-btn", "#qa-examples", "#qa-settings"):
        expect(page.locator(selector).first).to_be_visible()
    return page


@pytest.fixture
def page(browser, app):
    page = open_page(browser, app[1])
    yield page
    assert page.external == [], "the page fetched something from outside"
    assert page.dialogs == [], "a script ran (alert) from article or question text"
    page.context.close()


def ask(page, question: str, key: str = "Enter"):
    """Type a question, press Enter, and wait until the answer to that question is shown."""
    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press(key)
    return wait_for_result(page, question)


def wait_for_result(page, question: str):
    page.wait_for_function(
        "q => { const r = document.querySelector('#qa-output .qa-result'); return r && r.dataset.question === q; }",
        arg=question, timeout=TIMEOUT_MS)
    return page.locator("#qa-output .qa-result")


def shot(page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def open_source(page, n: int):
    """Click card [n]'s "Show in article" button; returns the open viewer dialog."""
    page.locator(f"#qa-cite-{n} .qa-show-source").click()
    dialog = page.locator("dialog.qa-viewer")
    expect(dialog).to_be_visible()
    return dialog


def check_mark_in_view(page, dialog, article: str, quote: str) -> None:
    """The viewer holds the whole article as text, its only element the <mark> of the quote, scrolled into view."""
    body = dialog.locator(".qa-article-text")
    assert body.evaluate("b => b.textContent") == article
    assert body.evaluate("b => b.children.length") == 1 and body.locator("mark").count() == 1
    mark = body.locator("mark#qa-viewer-mark")
    assert mark.evaluate("m => m.textContent") == quote
    page.wait_for_function("() => { const r = document.querySelector('#qa-viewer-mark').getBoundingClientRect();"
                           " return r.top >= 0 && r.bottom <= window.innerHeight; }")
    box, viewport = mark.bounding_box(), page.viewport_size
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"]
    assert 0 <= box["x"] and box["x"] + box["width"] <= viewport["width"]
    scroller = dialog.locator(".qa-viewer-body").bounding_box()
    assert scroller["y"] <= box["y"] and box["y"] + box["height"] <= scroller["y"] + scroller["height"]


def squash(text: str) -> str:
    return " ".join(text.split())


def test_title_says_what_the_corpus_is(page):
    title = page.locator(".qa-header h1").inner_text()
    assert f"{len(CORPUS)} articles de presse français" in title and "18 février – 4 mars 2024" in title
    expect(page.locator("#qa-k")).to_be_hidden()  # settings start collapsed
    assert page.title().startswith("Questions")


def test_french_question_with_enter(page, app):
    qa = app[0]
    expected = qa.ask(FRENCH)
    result = ask(page, FRENCH)
    assert result.get_attribute("lang") == "fr" and result.get_attribute("data-found") == "true"
    answer = page.locator(".qa-answer")
    assert answer.locator("p").first.inner_text().startswith("D'après les articles")
    assert answer.locator("blockquote").count() >= 1
    # the markers follow the quotes, in the quoter's order: the same as the answer the API gives
    assert [ref.inner_text() for ref in answer.locator("a.qa-ref").all()] == re.findall(r"\[\d+\]", expected.answer)
    cards = page.locator(".qa-card")
    assert cards.count() == len(expected.citations) == 5
    for i, citation in enumerate(expected.citations):
        card = cards.nth(i)
        assert squash(card.locator("mark").inner_text()) == squash(citation.quote)
        assert squash(card.locator(".qa-title").inner_text()) == squash(citation.title or citation.doc)
        assert f"{citation.score:.2f}" in card.locator(".qa-score").inner_text()
    first = cards.first
    assert "Jeanne Martin" in first.inner_text() and "18 février 2024" in first.inner_text()
    link = first.locator("a.qa-link")
    assert link.get_attribute("href") == "https://example.org/cnil-microsoft"
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    shot(page, "desktop-light-answer-fr.png")


def test_copy_for_notes_and_download(page, app):
    qa = app[0]
    expected = qa.ask(FRENCH)
    ask(page, FRENCH)
    button = page.locator(".qa-copy-all")
    button.click()
    expect(button).to_have_text("Copié ✓")
    assert page.evaluate("navigator.clipboard.readText()") == web_notes.notes_markdown(expected)

    one = page.locator(".qa-card").nth(1).locator("button[data-qa-action=copy]")
    one.click()
    expect(one).to_contain_text("✓")
    assert page.evaluate("navigator.clipboard.readText()") == web_notes.citation_markdown(expected.citations[1])

    with page.expect_download() as info:
        page.locator(".qa-download").click()
    download = info.value
    assert download.suggested_filename == web_notes.notes_filename(expected) == "qa-pourquoi-la-cnil-a-t-elle-accepte.md"
    assert Path(download.path()).read_text(encoding="utf-8") == web_notes.notes_markdown(expected)


def test_copy_falls_back_without_clipboard_api(page, app):
    ask(page, FRENCH)
    # Without navigator.clipboard (plain http on a LAN address), the textarea + execCommand path copies.
    page.evaluate("() => { Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true});"
                  " window._copied = null; document.addEventListener('copy', () => {"
                  " window._copied = document.getSelection().toString(); }); }")
    page.locator(".qa-copy-all").click()
    page.wait_for_function("() => window._copied !== null")
    assert page.evaluate("window._copied") == web_notes.notes_markdown(app[0].ask(FRENCH))


def test_example_click_answers_in_english(page):
    page.locator("#qa-examples").get_by_text(ENGLISH, exact=True).click()
    result = wait_for_result(page, ENGLISH)
    assert page.locator("#qa-question textarea").input_value() == ENGLISH
    assert result.get_attribute("lang") == "en"
    assert page.locator(".qa-answer p").first.inner_text().startswith("According to the articles")
    assert page.locator(".qa-card mark").count() >= 1


@contextlib.contextmanager
def refusing(qa):
    """The page's session with a confidence bar no answer reaches: its answers say the articles do not answer."""
    answering = qa.settings
    qa.settings = answering.with_(min_confidence=1.0)
    try:
        yield
    finally:
        qa.settings = answering


def test_not_found_shows_sentence_then_nearest_passages(page, app):
    with refusing(app[0]):
        result = ask(page, UNANSWERABLE)
    assert result.get_attribute("data-found") == "false"
    assert squash(page.locator(".qa-answer").inner_text()) == "Les articles ne permettent pas de répondre à cette question."
    assert "Passages les plus proches" in page.locator(".qa-sources-title").inner_text()
    cards = page.locator(".qa-card")
    assert cards.count() >= 1 and cards.count() == page.locator(".qa-card.qa-card-nearest").count()
    assert page.locator(".qa-answer a.qa-ref").count() == 0
    shot(page, "desktop-light-not-found.png")


def test_invalid_question_shows_a_readable_error(page):
    page.locator("#qa-question textarea").fill("  ?? ")
    page.locator("#qa-ask-btn").click()
    error = wait_for_result(page, "  ?? ")
    assert "qa-error" in error.get_attribute("class")
    assert "please ask a question" in error.inner_text() and "Traceback" not in error.inner_text()


def test_article_markup_stays_text(page):
    ask(page, TRAP)
    output = page.locator("#qa-output")
    assert output.locator("script").count() == 0 and output.locator("img").count() == 0
    text = output.inner_text()
    assert "<script>alert('xss')</script>" in text and "<img src=x onerror=alert(1)>" in text
    assert "[cliquez](javascript:alert(2))" in text and "${1+1}" in text and "{{value}}" in text
    assert output.locator("a[href^='javascript']").count() == 0


def test_source_viewer_shows_the_article_with_the_quote_marked(page, app):
    qa = app[0]
    expected = qa.ask(LIGHTHOUSE)
    ask(page, LIGHTHOUSE)
    citation = next(c for c in expected.citations if "UNESCO" in c.quote)
    article = qa.index.articles[citation.doc].text
    assert article.index(citation.quote) > 3000 and "🌊" in article[:citation.start]
    dialog = open_source(page, citation.n)
    assert dialog.locator(".qa-viewer-title").inner_text() == citation.title
    assert "25 février 2024" in dialog.locator(".qa-viewer-meta").inner_text()
    check_mark_in_view(page, dialog, article, citation.quote)
    assert dialog.locator(".qa-viewer-body").evaluate("b => b.scrollTop") > 500  # it scrolled down to the quote
    assert dialog.locator(".qa-article-text").evaluate("b => getComputedStyle(b).whiteSpace") == "pre-wrap"
    shot(page, "source-viewer.png", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # The card's title opens it too, on another citation; the close button closes it.
    other = next(c for c in expected.citations if c.n != citation.n)
    page.locator(f"#qa-cite-{other.n} .qa-title-btn").click()
    expect(dialog).to_be_visible()
    check_mark_in_view(page, dialog, qa.index.articles[other.doc].text, other.quote)
    dialog.locator(".qa-viewer-close").click()
    expect(dialog).to_be_hidden()


def test_source_viewer_keeps_article_markup_as_text(page, app):
    qa = app[0]
    expected = qa.ask(TRAP)
    ask(page, TRAP)
    citation = next(c for c in expected.citations if c.doc == "piege.txt")
    dialog = open_source(page, citation.n)
    check_mark_in_view(page, dialog, qa.index.articles["piege.txt"].text, citation.quote)
    text = dialog.locator(".qa-article-text").inner_text()
    assert "<script>alert('xss')</script>" in text and "<img src=x onerror=alert(1)>" in text
    assert page.locator("#qa-output script, #qa-output img, #qa-output b").count() == 0


def test_interface_language_english_for_a_french_question(page, app):
    qa = app[0]
    expected = qa.ask(FRENCH)
    page.locator("#qa-settings").get_by_text("Réglages").click()
    auto = page.locator("#qa-ui-language").get_by_label("Auto", exact=False)
    expect(auto).to_be_checked()
    page.locator("#qa-ui-language").get_by_label("English", exact=True).check()
    result = ask(page, FRENCH)
    assert result.get_attribute("lang") == "en" and result.get_attribute("data-language") == "fr"
    assert page.locator(".qa-answer p").first.inner_text() == "According to the articles:"
    assert page.locator(".qa-sources-title").inner_text() == "Sources"
    assert page.locator(".qa-copy-all").inner_text() == "Copy for notes"
    first = page.locator(".qa-card").first
    assert first.locator(".qa-show-source").inner_text() == "Show in article"
    assert "18 February 2024" in first.inner_text() and "Read the article" in first.inner_text()
    for i, citation in enumerate(expected.citations):  # the quotes stay French, as written
        assert squash(page.locator(".qa-card").nth(i).locator("mark").inner_text()) == squash(citation.quote)
    assert "D'après" not in page.locator("#qa-output").inner_text()
    dialog = open_source(page, 1)
    assert dialog.locator(".qa-viewer-close").inner_text().startswith("Close")
    shot(page, "desktop-light-interface-en.png", full_page=False)
    page.keyboard.press("Escape")

    page.locator("#qa-ui-language").get_by_label("Français", exact=True).check()
    with refusing(qa):
        ask(page, "What will the weather be in Lyon tomorrow?")
    assert squash(page.locator(".qa-answer").inner_text()) == "Les articles ne permettent pas de répondre à cette question."
    assert page.locator(".qa-sources-title").inner_text().startswith("Passages les plus proches")


def test_full_queue_says_so(browser, tmp_path, monkeypatch):
    """When Gradio's queue is full and refuses a question, the answer area says so in words, not a bare 'Error'.

    A queue of size 0 is always full: Gradio refuses every question exactly as it does when QUEUE_SIZE
    questions are already waiting, with no slow answers to arrange.
    """
    monkeypatch.setattr(web, "QUEUE_SIZE", 0)
    demo = web_server.serve(qa=make_qa(tmp_path), port=test_web_free_port(), block=False, progress=lambda _m: None)
    page = None
    try:
        assert demo._queue.max_size == 0
        page = open_page(browser, f"http://127.0.0.1:{demo.server_port}/")
        page.locator("#qa-question textarea").fill(FRENCH)
        page.locator("#qa-question textarea").press("Enter")
        busy = page.locator("#qa-output .qa-busy")
        expect(busy).to_be_visible()
        assert "Le serveur est occupé" in busy.inner_text() and "The server is busy" in busy.inner_text()
        expect(page.get_by_text("currently busy")).to_be_visible()  # Gradio's own toast
        shot(page, "desktop-light-queue-full.png", full_page=False)
        demo._queue.max_size = None  # room again: the next question is answered
        ask(page, FRENCH)
        expect(page.locator("#qa-output .qa-busy")).to_have_count(0)
        assert page.external == [] and page.dialogs == []
    finally:
        if page is not None:
            page.context.close()
        demo.close()


def test_settings_change_the_number_of_passages(page):
    page.locator("#qa-settings").get_by_text("Réglages").click()
    number = page.locator("#qa-k input[type=number]")
    slider = page.locator("#qa-k input[type=range]")
    expect(number).to_be_visible()
    # The accordion's contents may still be settling when the first keystrokes arrive (CI saw the
    # value ignored once), so set it the way a keyboard user would and check it took effect.
    for _ in range(5):
        slider.focus()
        slider.press("Home")
        slider.press("ArrowRight")
        if slider.input_value() == "2":
            break
        page.wait_for_timeout(200)
    expect(slider).to_have_value("2")
    expect(number).to_have_value("2")
    lexical = page.locator("#qa-mode").get_by_label("lexical", exact=True)
    lexical.check()
    expect(lexical).to_be_checked()
    ask(page, FRENCH)
    expect(page.locator(".qa-card")).to_have_count(2)


def test_phone_width_dark_theme(browser, app):
    page = open_page(browser, app[1], viewport=PHONE, scheme="dark")
    try:
        assert page.evaluate("document.body.classList.contains('dark') || "
                             "!!document.querySelector('.dark, gradio-app.dark')")
        ask(page, FRENCH)
        page.locator(".qa-card mark").first.wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width}px)"
        assert page.locator("#qa-ask-btn").is_visible()
        shot(page, "phone-dark-answer-fr.png")
        expected = app[0].ask(FRENCH)
        dialog = open_source(page, 2)
        check_mark_in_view(page, dialog, app[0].index.articles[expected.citations[1].doc].text, expected.citations[1].quote)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, "phone-dark-source-viewer.png", full_page=False)
        dialog.locator(".qa-viewer-close").click()
        ask(page, UNANSWERABLE)
        shot(page, "phone-dark-not-found.png")
        assert page.external == [] and page.dialogs == []
    finally:
        page.context.close()
