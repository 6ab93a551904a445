"""The page's HTML (qa/web_html.py): answers, citation cards, the source viewer's data, the title; every
piece of article or question text escaped."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_web_notes import citation  # noqa: E402  (a Citation with every field, to change one at a time)

from qa import web_html, web_notes  # noqa: E402
from qa.records import Answer  # noqa: E402

FRENCH = "pourquoi la CNIL a-t-elle accepté ?"


def test_page_html_escapes_question():
    question = "<img src=x onerror=alert(1)> pourquoi ?"
    html = web_html.answer_html(Answer(question, "fr", False, "Les articles ne permettent pas de répondre à cette question."))
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_answer_markdown_html():
    md = "D'après les articles :\n\n> Il a écrit <script>x</script> et [lien](javascript:alert(1)) *ici* [1][3]\n\n> Deux [2]"
    html = web_html.answer_markdown_html(md, [1, 2, 3])
    assert html.startswith("<p>D&#x27;après les articles :</p>")
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script" not in html
    assert "[lien](javascript:alert(1))" in html and 'href="javascript' not in html
    assert html.count("<blockquote>") == 2
    assert 'data-qa-cite="1"' in html and 'data-qa-cite="3"' in html and 'data-qa-cite="2"' in html
    assert 'data-qa-cite' not in web_html.answer_markdown_html("> sans sources [4]", [1])


def test_highlight_uses_offsets():
    text = "Oui. La CNIL a accepté. Puis encore : La CNIL a accepté."
    second = text.rindex("La CNIL")
    c = citation(context=text, context_start=50, start=50 + second, end=50 + len(text), quote=text[second:])
    assert web_html.highlighted_context(c) == "Oui. La CNIL a accepté. Puis encore : <mark>La CNIL a accepté.</mark>"
    tricky = citation(context="a <b> & c", context_start=0, start=2, end=5, quote="<b>")
    assert web_html.highlighted_context(tricky) == "a <mark>&lt;b&gt;</mark> &amp; c"
    broken = citation(context="autre chose", context_start=0, start=0, end=3, quote="xyz")
    assert web_html.highlighted_context(broken) == "<mark>xyz</mark>"


def test_card_html():
    html = web_html.card_html(citation(title="<i>T</i>", author="A & B"), "fr")
    assert 'id="qa-cite-1"' in html and "&lt;i&gt;T&lt;/i&gt;" in html and "A &amp; B" in html
    assert '<a class="qa-link" href="https://example.org/a" target="_blank" rel="noopener noreferrer">' in html
    assert "18 février 2024" in html and "score 0.83" in html
    assert "<mark>La CNIL a accepté pour trois ans.</mark>" in html
    evil = web_html.card_html(citation(url="javascript:alert(1)"), "en")
    assert "javascript:" not in evil and "<a " not in evil
    assert "qa-card-nearest" in web_html.card_html(citation(), "en", nearest=True)


def test_answer_html_states():
    found = web_html.answer_html(Answer("q", "en", True, "According to the articles:\n\n> Q. [1]", (citation(),)))
    assert "qa-found" in found and ">Sources<" in found and 'data-qa-action="copy"' in found
    assert 'data-qa-action="download"' in found and 'data-qa-filename="qa-q.md"' in found
    missing = web_html.answer_html(Answer("q", "fr", False, "Les articles ne permettent pas de répondre à cette question.",
                                     (citation(),)))
    assert "qa-not-found" in missing and "Passages les plus proches" in missing and "qa-card-nearest" in missing
    assert "data-qa-cite" not in missing  # nearest passages are not cited as answers


def test_interface_language_overrides_the_page_words():
    c = citation(quote="La CNIL a accepté pour trois ans.")
    french = Answer(FRENCH, "fr", True, "D'après les articles :\n\n> La CNIL a accepté pour trois ans. [1]", (c,))
    assert web_notes.answer_text(french) == french.answer == web_notes.answer_text(french, "fr")
    assert web_notes.answer_text(french, "en") == "According to the articles:\n\n> La CNIL a accepté pour trois ans. [1]"
    html = web_html.answer_html(french, language="en")
    assert 'lang="en"' in html and 'data-language="fr"' in html
    assert "<p>According to the articles:</p>" in html and "D&#x27;après" not in html
    assert ">Sources<" in html and "Copy for notes" in html and "18 February 2024" in html
    assert "La CNIL a accepté pour trois ans." in html  # the quote as written
    assert web_notes.notes_markdown(french, "en").startswith(f"**Question:** {FRENCH}\n\nAccording to the articles:")

    missing = Answer("What is the weather?", "en", False, "The articles do not answer this question.", (c,))
    html = web_html.answer_html(missing, language="fr")
    assert "Les articles ne permettent pas de répondre à cette question." in html
    assert "Passages les plus proches" in html and "do not answer" not in html
    assert web_notes.answer_text(replace(missing, answer="Something else."), "fr") == "Something else."


def test_source_viewer_data():
    import html as html_module
    import json

    text = "🌊 Début <script>alert(1)</script> & \"x\".\r\nLa CNIL a accepté\x00 pour trois ans. Fin."
    start = text.index("La CNIL")
    end = text.index(" Fin.")
    c1 = citation(start=start, end=end, quote=text[start:end], context=text, context_start=0)
    c2 = citation(n=2, start=0, end=2, quote=text[0:2], context=text, context_start=0)
    c3 = citation(n=3, doc="b.txt", start=0, end=1, quote="X")  # its article is not on the page
    answer = Answer("q", "fr", True, "D'après les articles :\n\n> La CNIL a accepté pour trois ans. [1]", (c1, c2, c3))
    page = web_html.answer_html(answer, {"a.txt": text})
    assert "<script" not in page
    assert page.count('class="qa-src"') == 1 and page.count("<dialog") == 1  # once per cited article
    blob = re.search(r'data-qa-text="([^"]*)"', page).group(1)
    assert "<" not in blob and "\x00" not in blob and "\r" not in blob  # what HTML parsing would change is escaped
    assert json.loads(html_module.unescape(blob)) == text
    card = re.search(r'<li [^>]*id="qa-cite-1"[^>]*>', page).group(0)
    assert 'data-qa-src="0"' in card
    js_from = int(re.search(r'data-qa-from="(\d+)"', card).group(1))
    js_to = int(re.search(r'data-qa-to="(\d+)"', card).group(1))
    utf16 = text.encode("utf-16-le")
    assert utf16[2 * js_from:2 * js_to].decode("utf-16-le") == c1.quote
    assert (js_from, js_to) == (start + 1, end + 1)  # 🌊 counts two
    assert "data-qa-src" not in re.search(r'<li [^>]*id="qa-cite-3"[^>]*>', page).group(0)
    assert page.count('data-qa-action="source"') == 4  # title and button of the two viewable cards
    # A citation whose quote is not its slice of the text (never happens) gets no viewer.
    wrong = replace(c1, quote="autre chose")
    assert "data-qa-src" not in web_html.card_html(wrong, "fr", source=(0, text))
    assert "qa-src" not in web_html.answer_html(answer) and "<dialog" not in web_html.answer_html(answer)
    assert web_html.utf16_offset("a🌊b", 2) == 3 and web_html.utf16_offset("abc", 2) == 2


def test_safe_url_and_dates():
    assert web_notes.safe_url("https://a.fr/x") == "https://a.fr/x"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//a.fr", "https://a.fr/x y", None, ""):
        assert web_notes.safe_url(bad) is None
    assert web_html.human_date("2024-03-01", "fr") == "1er mars 2024"
    assert web_html.human_date("2024-03-04", "en") == "4 March 2024"
    assert web_html.date_range(["2024-03-04", None, "2024-02-18"], "fr") == "18 février – 4 mars 2024"
    assert web_html.date_range(["2023-12-31", "2024-01-02"], "en") == "31 December 2023 – 2 January 2024"
    assert web_html.date_range([None], "fr") is None


def test_dates_on_cards_notes_and_answer():
    recent = citation(n=1)
    older = citation(n=2, doc="b.txt", date="2020-10-08", date_inferred=True, quote="Ancien.")
    undated = citation(n=3, doc="c.txt", date=None, quote="Sans date.")
    answer = Answer("La CNIL et Microsoft ?", "fr", True,
                    "D'après les articles :\n\n> Récent. [1]\n\n> Ancien. [2]\n\n> Sans date. [3]", (recent, older, undated))
    page = web_html.answer_html(answer)
    # The older quote is marked with its (inferred) year, the undated one says so, in the answer and notes.
    assert "Ancien. (~2020) " in page and "Sans date. (non daté) " in page
    notes = web_notes.notes_markdown(answer)
    assert "> Ancien. (~2020) [2]" in notes and "> Récent. [1]" in notes
    assert "— Titre, Jeanne Martin, 2020-10-08 (date déduite du texte), https://example.org/a" in notes
    # Every card shows its date or 'undated'.
    assert '<time class="qa-date" datetime="2024-02-18">18 février 2024</time>' in page
    assert "8 octobre 2020 (date déduite du texte)" in page
    assert '<span class="qa-date qa-undated">non daté</span>' in page
    assert "undated" in web_html.card_html(undated, "en")


def test_header_counts_inferred_and_all_undated():
    summary = {"n_articles": 2, "n_undated": 2, "n_inferred": 0, "langs": ["en", "fr"], "range_fr": None, "range_en": None}
    header = web_html.header_html(summary)
    assert "2 articles de presse (aucun n&#x27;est daté)" in header and "2 news articles (none dated)" in header
