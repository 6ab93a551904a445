"""The page in a real browser: Playwright for Python driving Debian's chromium, headless.

Same app as tests/test_web.py (tiny corpus, hashing embedder, a free local port). It types a question
and presses Enter, clicks an example, asks an unanswerable and an invalid question, copies for
notes (clipboard and .md download), checks that article markup stays text and that the page asks
nothing of the internet; screenshots (desktop light, phone dark) go to test-output/screenshots/.

Needs `apt-get install -y chromium` and `pip install playwright` (no Playwright browser download:
the system chromium is used); skipped with the reason when either is missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("QA_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium, or set QA_CHROMIUM)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)")

expect = sync_api.expect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_web import ENGLISH, FRENCH, TRAP, UNANSWERABLE, start_app  # noqa: E402

from qa import web  # noqa: E402

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


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def squash(text: str) -> str:
    return " ".join(text.split())


def test_title_says_what_the_corpus_is(page):
    title = page.locator(".qa-header h1").inner_text()
    assert "3 articles de presse français" in title and "18 février – 4 mars 2024" in title
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
    assert answer.locator("a.qa-ref").first.inner_text() == "[1]"
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
    assert page.evaluate("navigator.clipboard.readText()") == web.notes_markdown(expected)

    one = page.locator(".qa-card").nth(1).locator("button[data-qa-action=copy]")
    one.click()
    expect(one).to_contain_text("✓")
    assert page.evaluate("navigator.clipboard.readText()") == web.citation_markdown(expected.citations[1])

    with page.expect_download() as info:
        page.locator(".qa-download").click()
    download = info.value
    assert download.suggested_filename == web.notes_filename(expected) == "qa-pourquoi-la-cnil-a-t-elle-accepte.md"
    assert Path(download.path()).read_text(encoding="utf-8") == web.notes_markdown(expected)


def test_copy_falls_back_without_clipboard_api(page, app):
    ask(page, FRENCH)
    # Without navigator.clipboard (plain http on a LAN address), the textarea + execCommand path copies.
    page.evaluate("() => { Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true});"
                  " window._copied = null; document.addEventListener('copy', () => {"
                  " window._copied = document.getSelection().toString(); }); }")
    page.locator(".qa-copy-all").click()
    page.wait_for_function("() => window._copied !== null")
    assert page.evaluate("window._copied") == web.notes_markdown(app[0].ask(FRENCH))


def test_example_click_answers_in_english(page):
    page.locator("#qa-examples").get_by_text(ENGLISH, exact=True).click()
    result = wait_for_result(page, ENGLISH)
    assert page.locator("#qa-question textarea").input_value() == ENGLISH
    assert result.get_attribute("lang") == "en"
    assert page.locator(".qa-answer p").first.inner_text().startswith("According to the articles")
    assert page.locator(".qa-card mark").count() >= 1


def test_not_found_shows_sentence_then_nearest_passages(page):
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


def test_settings_change_the_number_of_passages(page):
    page.locator("#qa-settings").get_by_text("Réglages").click()
    number = page.locator("#qa-k input[type=number]")
    expect(number).to_be_visible()
    number.fill("2")
    number.press("Tab")
    expect(page.locator("#qa-k input[type=range]")).to_have_value("2")
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
        ask(page, UNANSWERABLE)
        shot(page, "phone-dark-not-found.png")
        assert page.external == [] and page.dialogs == []
    finally:
        page.context.close()
