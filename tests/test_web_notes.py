"""The answer as text in the page's interface language (qa/web_notes.py): the Markdown for notes."""

from __future__ import annotations

from qa import web_notes
from qa.records import Answer, Citation


def citation(**changes) -> Citation:
    text = "Avant. La CNIL a accepté pour trois ans. Après."
    fields = dict(n=1, doc="a.txt", title="Titre", author="Jeanne Martin", url="https://example.org/a",
                  date="2024-02-18", start=107, end=140, quote=text[7:40], score=0.8312,
                  context=text, context_start=100)
    fields.update(changes)
    return Citation(**fields)


def test_source_line():
    assert web_notes.source_line(citation()) == "Titre, Jeanne Martin, 2024-02-18, https://example.org/a"
    # Every citation says its date, or that it has none; an inferred date says so.
    assert web_notes.source_line(citation(title=None, author=None, url=None, date=None)) == "a.txt, non daté"
    assert web_notes.source_line(citation(url=None, date=None), "en") == "Titre, Jeanne Martin, undated"
    assert web_notes.source_line(citation(url=None, date="2020-10-08", date_inferred=True), "en") == (
        "Titre, Jeanne Martin, 2020-10-08 (date inferred from the text)")


def test_citation_markdown():
    c = citation(quote="Première ligne\ndeuxième ligne")
    assert web_notes.citation_markdown(c) == (
        "> Première ligne\n> deuxième ligne\n\n— Titre, Jeanne Martin, 2024-02-18, https://example.org/a\n")


def test_notes_markdown_found():
    c1 = citation()
    c2 = citation(n=2, title=None, author=None, url=None, date=None, doc="b.txt", quote="Autre passage.")
    answer = Answer("pourquoi la CNIL a-t-elle accepté ?", "fr", True,
                    "D'après les articles :\n\n> La CNIL a accepté pour trois ans. [1]", (c1, c2))
    assert web_notes.notes_markdown(answer) == (
        "**Question :** pourquoi la CNIL a-t-elle accepté ?\n\n"
        "D'après les articles :\n\n> La CNIL a accepté pour trois ans. [1]\n\n"
        "**Sources**\n\n"
        "[1]\n> La CNIL a accepté pour trois ans.\n\n— Titre, Jeanne Martin, 2024-02-18, https://example.org/a\n\n"
        "[2]\n> Autre passage.\n\n— b.txt, non daté\n")
    assert web_notes.notes_filename(answer) == "qa-pourquoi-la-cnil-a-t-elle-accepte.md"


def test_notes_markdown_not_found():
    answer = Answer("What is the weather?", "en", False, "The articles do not answer this question.", (citation(),))
    notes = web_notes.notes_markdown(answer)
    assert notes.startswith("**Question:** What is the weather?\n\nThe articles do not answer this question.\n\n")
    assert "**Nearest passages — they do not answer the question**" in notes
    assert web_notes.notes_filename(Answer("???", "en", False, "")) == "qa-answer.md"
