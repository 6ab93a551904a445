"""Article metadata (issue 17): front matter, bylines and dates in French and English, inferred dates that
refuse to guess, title stand-ins, the article's language, and the date helpers answers use."""

from __future__ import annotations

import datetime

import pytest

from qa.chunk import chunk_article
from qa.clean import clean_article, title_standin
from qa.dates import date_label, find_dates, in_range, infer_date, mark_older_quotes, older_years, parse_bound, parse_date
from qa.errors import InputError
from qa.frontmatter import check_fields, read_front_matter, render_front_matter, with_front_matter
from qa.records import Article, Citation

TODAY = datetime.date(2026, 1, 15)


def clean(text: str, doc: str = "a.md") -> Article:
    return clean_article(Article(doc=doc, text=text))


# ------------------------------------------------------------------ dates in lines (dateparser)

@pytest.mark.parametrize("line, lang, expected", [
    ("Publié le 04/03/2024 à 10h12", "fr", "2024-03-04"),
    ("Mis à jour le 5 mars 2024 à 18h02", "fr", "2024-03-05"),
    ("le 1er mars 2024", "fr", "2024-03-01"),
    ("18 fév. 2024", "fr", "2024-02-18"),
    ("March 13, 2024", "en", "2024-03-13"),
    ("Published March 13, 2024 at 9:00 a.m. ET", "en", "2024-03-13"),
    ("Updated 13th March 2024", "en", "2024-03-13"),
    ("By Jane Roe | 03/04/2024", "en", "2024-03-04"),   # month first in English
    ("Par Jeanne Roux | 03/04/2024", "fr", "2024-04-03"),  # day first in French
    ("Posted on 2024-03-04", "en", "2024-03-04"),
])
def test_dates_in_both_languages(line, lang, expected):
    assert parse_date(line, lang) == expected


@pytest.mark.parametrize("line", ["il y a 2 jours", "Publié il y a 3 heures", "Updated 2 days ago", "hier à 18h",
                                  "yesterday", "le 31 janvier", "12 hommes 2024", "31 février 2024", "2024-13-01"])
def test_relative_partial_and_impossible_dates_are_no_dates(line):
    assert parse_date(line, "fr") is None and parse_date(line, "en") is None


def test_find_dates_gives_positions():
    line = "Publié le 4 mars 2024, mis à jour le 5 mars 2024"
    found = find_dates(line, "fr")
    assert [iso for _s, _e, iso in found] == ["2024-03-04", "2024-03-05"]
    assert [line[s:e] for s, e, _ in found] == ["4 mars 2024", "5 mars 2024"]


# ------------------------------------------------------------------ bylines in articles

FR_BYLINE = """# Les bibliothèques de Rennes ouvrent le dimanche

Par Marie de La Tour
Publié le 04/03/2024 à 10h12

La ville de Rennes ouvrira ses six bibliothèques le dimanche après-midi à partir du mois d'avril, a annoncé la mairie.

Le coût de la mesure est estimé à 400 000 euros par an, selon l'adjointe à la culture.
"""

EN_BYLINE = """# Leeds opens its libraries on Sundays

By Jane Roe and John Doe
March 13, 2024

Leeds City Council will open its six libraries on Sunday afternoons from April, the council said on Tuesday.

The measure is expected to cost £400,000 a year, according to the council's culture lead.
"""


def test_french_byline_and_date_on_separate_lines():
    a = clean(FR_BYLINE)
    assert (a.title, a.author, a.date, a.date_inferred, a.lang) == (
        "Les bibliothèques de Rennes ouvrent le dimanche", "Marie de La Tour", "2024-03-04", False, "fr")
    assert [a.text[s.start:s.end] for s in a.bylines] == ["Par Marie de La Tour", "Publié le 04/03/2024 à 10h12"]
    assert all("Publié" not in a.text[p.start:p.end] for p in a.paragraphs)


def test_english_byline_and_date_only_line():
    a = clean(EN_BYLINE)
    assert (a.author, a.date, a.lang) == ("Jane Roe and John Doe", "2024-03-13", "en")
    assert len(a.paragraphs) == 2 and not a.title_inferred


def test_relative_publication_line_is_furniture_not_a_date():
    a = clean("# Titre\n\nPublié il y a 2 jours\n\nLe conseil municipal a voté le budget de la piscine hier soir.\n")
    assert a.date is None and not a.date_inferred
    assert [a.text[p.start:p.end] for p in a.paragraphs] == ["Le conseil municipal a voté le budget de la piscine hier soir."]


def test_by_in_prose_is_not_a_byline():
    a = clean("Le maire a parlé longuement.\n\nPar Internet, les usagers peuvent réserver.\n")
    assert a.author is None and a.bylines == ()


# ------------------------------------------------------------------ inferred dates

def test_weekday_day_month_and_latest_year_infer_a_date():
    text = "La réforme votée en 2019 a été contestée en 2020. Jeudi 8 octobre, le Conseil d'État a rendu sa décision."
    assert infer_date(text, "fr", TODAY) == "2020-10-08"


def test_english_weekday_inference():
    text = "The 2020 ruling followed months of debate. On Thursday, October 8, the court ruled against the plan."
    assert infer_date(text, "en", TODAY) == "2020-10-08"


def test_the_next_year_counts_when_only_it_fits():
    # A 2020 article naming 2019 last: 8 October 2019 is a Tuesday, 2020 a Thursday.
    assert infer_date("Créé en 2019, le service a été critiqué jeudi 8 octobre.", "fr", TODAY) == "2020-10-08"


@pytest.mark.parametrize("text", [
    "Créé en 2019, le service a été critiqué jeudi 9 octobre.",   # Wednesday in 2019, Friday in 2020: no guess
    "Jeudi 8 octobre, le Conseil d'État a rendu sa décision.",    # no year at all
    "Le 8 octobre 2020 puis le 9 octobre, la décision.",          # no weekday: a day and month are no evidence
    "Le plan court jusqu'en 2030 ; jeudi 8 octobre, il a été voté.",  # a future year is no evidence
])
def test_inference_refuses_to_guess(text):
    assert infer_date(text, "fr", TODAY) is None


def test_inferred_date_is_marked_on_the_article():
    a = clean("La réforme de 2020 a fait débat. Jeudi 8 octobre, le Conseil d'État a rendu sa décision finale.\n")
    assert a.date == "2020-10-08" and a.date_inferred


def test_stated_date_is_never_replaced_by_an_inferred_one():
    a = clean("# T\n\nPublié le 12 octobre 2020\n\nLa réforme de 2020 a fait débat. Jeudi 8 octobre, la décision est tombée.\n")
    assert a.date == "2020-10-12" and not a.date_inferred


# ------------------------------------------------------------------ front matter

FRONT = """---
title: "Un titre: avec deux-points"
author: Jeanne Martin
date: 2024-02-18
url: https://www.example.fr/a
lang: en
site: Exemple
---

# Un autre titre dans le texte

Par Paul Durand. Publié le 4 mars 2024

La mairie a voté le budget de la nouvelle piscine municipale hier soir, après trois heures de débat.
"""


def test_front_matter_is_read():
    front = read_front_matter(FRONT)
    assert front.fields == {"title": "Un titre: avec deux-points", "author": "Jeanne Martin", "date": "2024-02-18",
                            "url": "https://www.example.fr/a", "lang": "en", "site": "Exemple"}
    assert FRONT[front.end:].startswith("\n# Un autre titre")


def test_front_matter_wins_over_detection_and_is_never_prose():
    a = clean(FRONT)
    assert (a.title, a.author, a.date, a.url, a.lang) == (
        "Un titre: avec deux-points", "Jeanne Martin", "2024-02-18", "https://www.example.fr/a", "en")
    assert not a.date_inferred and not a.title_inferred
    end = read_front_matter(FRONT).end
    assert all(s.start >= end for s in (*a.paragraphs, *a.headings, *a.bylines))
    # Offsets count from the file's first character, front matter included.
    for p in chunk_article(a, 300):
        assert p.text == FRONT[p.start:p.end]


@pytest.mark.parametrize("text", [
    "---\n\nUne ligne de séparation Markdown, puis du texte.\n\n---\n\nSuite.\n",  # a rule, not a mapping
    "---\ntitle: [unclosed\n---\nTexte.\n",                                         # not YAML
    "---\ntitle: jamais fermé\n\nTexte.\n",                                          # never closed
])
def test_what_is_not_front_matter(text):
    assert read_front_matter(text).end == 0


def test_front_matter_round_trip_and_refusal_to_add_twice():
    fields = check_fields({"title": "L'été: chaud", "date": "18 février 2024", "lang": "FR", "author": None})
    assert fields == {"title": "L'été: chaud", "date": "2024-02-18", "lang": "fr"}
    text = with_front_matter("Le texte.\n", fields)
    assert read_front_matter(text).fields == fields
    assert text.endswith("---\n\nLe texte.\n")
    with pytest.raises(InputError, match="already has front matter"):
        with_front_matter(text, fields)
    assert render_front_matter({}) == ""


@pytest.mark.parametrize("fields, message", [
    ({"date": "il y a 2 jours"}, "not a date"), ({"lang": "français!"}, "language code"),
    ({"url": "file:///etc/passwd"}, "http"), ({"title": "  "}, "empty")])
def test_bad_metadata_options_are_refused(fields, message):
    with pytest.raises(InputError, match=message):
        check_fields(fields)


# ------------------------------------------------------------------ titles and language

def test_title_standin_from_first_words():
    assert title_standin("Une phrase courte. Puis une autre.") == "Une phrase courte"
    long = "Le conseil municipal de la commune a voté hier soir, après un long débat, un budget de trois millions"
    standin = title_standin(long)
    assert standin.endswith("…") and len(standin) <= 81 and long.startswith(standin[:-1])


def test_english_article_language_is_detected_and_front_matter_lang_wins():
    assert clean(EN_BYLINE).lang == "en"
    assert clean("---\nlang: de\n---\n" + EN_BYLINE).lang == "de"


# ------------------------------------------------------------------ citations and answers

def citation(n, date, inferred=False, **extra):
    fields = dict(n=n, doc=f"{n}.md", title="T", author=None, url=None, date=date, start=0, end=5, quote="Texte",
                  score=0.5, date_inferred=inferred, lang="fr")
    fields.update(extra)
    return Citation(**fields)


def test_citation_json_version_2():
    c = citation(1, "2020-10-08", inferred=True, title="Les premiers mots…", title_inferred=True)
    data = c.to_json()
    assert list(data) == ["n", "doc", "title", "url", "date", "start", "end", "quote", "score", "lang", "date_inferred"]
    assert data["title"] is None and data["lang"] == "fr" and data["date_inferred"] is True


def test_older_quotes_are_marked_with_their_year():
    citations = [citation(1, "2024-02-18"), citation(2, "2020-10-08", inferred=True), citation(3, None),
                 citation(4, "2024-03-04")]
    assert older_years(citations) == {2: "~2020"}
    markdown = "D'après les articles :\n\n> Récent. [1][4]\n\n> Ancien. [2]\n\n> Sans date. [3]"
    marked = mark_older_quotes(markdown, citations, "fr")
    assert "> Récent. [1][4]" in marked
    assert "> Ancien. (~2020) [2]" in marked
    assert "> Sans date. (non daté) [3]" in marked
    same_year = [citation(1, "2024-02-18"), citation(2, "2024-03-04")]
    assert mark_older_quotes(markdown, same_year, "fr") == markdown


def test_date_labels():
    assert date_label("2024-02-18", False, "fr") == "18 février 2024"
    assert date_label("2024-03-01", False, "fr") == "1er mars 2024"
    assert date_label("2020-10-08", True, "en") == "8 October 2020 (date inferred from the text)"
    assert date_label(None, False, "en") == "undated" and date_label(None, False, "fr") == "non daté"


def test_since_until_bounds_and_filter():
    assert parse_bound("2024") == datetime.date(2024, 1, 1)
    assert parse_bound("2024", end=True) == datetime.date(2024, 12, 31)
    assert parse_bound("2024-02", end=True) == datetime.date(2024, 2, 29)
    assert parse_bound("2024-03-04") == datetime.date(2024, 3, 4)
    with pytest.raises(InputError):
        parse_bound("bientôt")
    assert [in_range(d, parse_bound("2021"), None) for d in ("2020-10-08", None, "2024-02-18")] == [False, False, True]
    assert [in_range(d, None, parse_bound("2021", end=True)) for d in ("2020-10-08", None, "2024-02-18")] == \
        [True, False, False]
    assert [in_range(d, None, None) for d in ("2020-10-08", None, "2024-02-18")] == [True, True, True]


def test_only_quoted_sources_count_for_marks():
    citations = [citation(1, None), citation(2, None), citation(3, "2020-01-01"), citation(4, "2024-01-01")]
    markdown = "D'après les articles :\n\n> Un. [1]\n\n> Deux. [2]"
    assert mark_older_quotes(markdown, citations, "fr") == markdown  # the unquoted [3] and [4] do not count
    assert mark_older_quotes("> Un. [3]\n\n> Deux. [4]", citations, "en") == "> Un. (2020) [3]\n\n> Deux. [4]"


def test_undated_quotes_show_the_latest_year_their_text_mentions():
    citations = [citation(1, None, year_hint=2019), citation(2, None, year_hint=2024)]
    markdown = "> Ancien. [1]\n\n> Récent. [2]"
    assert mark_older_quotes(markdown, citations, "fr") == (
        "> Ancien. (non daté ; mentionne jusqu'à 2019) [1]\n\n> Récent. (non daté ; mentionne jusqu'à 2024) [2]")
    assert date_label(None, False, "en", 2019) == "undated; mentions up to 2019"


def test_year_hint_is_the_latest_past_year_of_the_prose():
    a = clean("Créé en 2019, le service vise 2030. Le ministre a parlé hier devant le Sénat, longuement.\n")
    assert a.date is None and a.year_hint == 2019


def test_a_first_line_with_a_date_is_a_title_not_a_date_line():
    a = clean("Élections du 4 mars 2024\n\nLes électeurs de la commune ont voté dimanche pour renouveler leur conseil municipal.\n")
    assert a.title == "Élections du 4 mars 2024" and a.date is None


@pytest.mark.parametrize("masthead", ["THE CASTLEFORD GAZETTE\nNews | Business | Sport | Opinion",
                                      "Gazette › Actualités › Transports", "LE JOURNAL DU NORD ▸ Accueil ▸ Régions"])
def test_a_masthead_above_the_headline_is_not_the_title(masthead):
    text = (f"{masthead}\n\nLe tramway de Douai rouvre après six mois de travaux\n\nPar Jeanne Roux\n\n"
            "La ligne A du tramway a rouvert lundi matin après six mois de travaux sur le viaduc de la Scarpe.\n")
    article = clean_article(Article(doc="a.txt", text=text))
    assert article.title == "Le tramway de Douai rouvre après six mois de travaux"
    assert not any("Gazette" in text[p.start:p.end] or "Accueil" in text[p.start:p.end] for p in article.paragraphs)


HEADLINE = "Le tramway de Douai rouvre après six mois de travaux"
BODY = "La ligne A du tramway a rouvert lundi matin après six mois de travaux sur le viaduc de la Scarpe.\n"


@pytest.mark.parametrize("header", [
    "Le Courrier du Val\n\n{h}",                                                    # a site's name in plain case
    "douai-infos.fr — L'actu de Douai, Cambrai et de la Scarpe\nACCUEIL   SPORT   CULTURE   AGENDA\n\n{h}",
    "Menu ☰   Le Courrier du Val   Rechercher\n\n{h}",
    "TRANSPORTS\n\n{h}",                                                            # a section above the headline
    "Douai > Transports\n\n{h}",
    "{h}\n\nUn chantier plus long que prévu a privé les voyageurs de leur ligne principale pendant tout l'hiver",
    "{h}\n\nRédaction Douai Infos | 3 octobre 2024 | Lecture : 4 min",             # a byline, not a menu
])
def test_the_headline_is_the_title_whatever_the_page_header(header):
    text = header.format(h=HEADLINE) + "\n\n" + BODY
    article = clean_article(Article(doc="a.txt", text=text))
    assert article.title == HEADLINE
    # What stands above the first paragraph is the page's header, not a section heading of the article.
    assert article.headings == ()
    assert [text[p.start:p.end] for p in article.paragraphs] == [BODY.strip()]


@pytest.mark.parametrize("headline", [
    "Colère des riverains : après quatre semaines de fermeture du pont de la Scarpe, la mairie obtient enfin un calendrier",
    "RÉSEAU DE CHALEUR DES GRANDS-PRÉS : LES PREMIERS LOGEMENTS RACCORDÉS",
    "Crédit Douaisien : un bénéfice en recul de 9 % en 2023",                     # not a photo credit
])
def test_long_capitalized_or_credit_naming_headlines_are_titles(headline):
    article = clean_article(Article(doc="a.txt", text=f"LE COURRIER DU VAL\n\n{headline}\n\n{BODY}"))
    assert article.title == headline


def test_a_markdown_section_above_the_first_paragraph_stays_a_heading():
    text = f"# {HEADLINE}\n\n## Le chantier\n\n{BODY}"
    article = clean_article(Article(doc="a.md", text=text))
    assert article.title == HEADLINE
    assert [text[h.start:h.end] for h in article.headings] == ["Le chantier"]


@pytest.mark.parametrize(("line", "date"), [
    ("Tuesday 4 July 2023, 18:42 BST · 5 min read", "2023-07-04"),
    ("Lecture 4 min — Publié le 13/10/2023 à 06h00", "2023-10-13"),
    ("Rédaction Douai Infos | 3 octobre 2024 | Lecture : 4 min", "2024-10-03"),
])
def test_a_publication_line_with_a_reading_time_dates_the_article(line, date):
    text = f"{HEADLINE}\n\n{line}\n\n{BODY}"
    article = clean_article(Article(doc="a.txt", text=text))
    assert article.date == date and not article.date_inferred
    assert [text[b.start:b.end] for b in article.bylines] == [line]
    assert article.title == HEADLINE and [text[p.start:p.end] for p in article.paragraphs] == [BODY.strip()]


@pytest.mark.parametrize(("line", "author"), [
    ("Par Élodie Saint-Amand", "Élodie Saint-Amand"),
    ("By Kwame Asante-Leblanc, Staff Reporter", "Kwame Asante-Leblanc"),
    ("**Par Geneviève Lamarre-Roussel** — Temps de lecture : 5 min", "Geneviève Lamarre-Roussel"),
    ("Par Jean Roe - Lyon", "Jean Roe"),
])
def test_hyphenated_authors_keep_their_whole_name(line, author):
    article = clean_article(Article(doc="a.txt", text=f"{HEADLINE}\n\n{line}\n\n{BODY}"))
    assert article.author == author
