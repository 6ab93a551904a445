"""Dates: read from bylines with dateparser, inferred from an article's own text (marked as such), shown and
used in answers (labels, older quotes marked with their year, --since/--until filters).

No month tables: candidate dates are found by their shape (a number, a word, a four-digit year; or
numeric forms) and dateparser decides whether the word is a month in the article's language; weekday
names come from babel's locale data. Relative dates ("il y a 2 jours", "2 days ago") are no dates:
they say nothing once the page is saved.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from .errors import InputError
from .text import fold

# Shapes a written calendar date takes; dateparser then says whether it is one (and which).
_FULL_DATE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b"                                              # 2024-03-04
    r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{4}\b"                                       # 04/03/2024, 4.3.2024
    r"|\b\d{1,2}(?:er|st|nd|rd|th)?\s+[^\W\d_]{3,}\.?,?\s+\d{4}\b"            # 18 février 2024, 4 March 2024
    r"|\b[^\W\d_]{3,}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b",              # March 13, 2024
    re.IGNORECASE)
# A day and month without a year, possibly after a weekday: "jeudi 9 octobre", "Thursday, October 9".
_WEEKDAY_DAY_MONTH = re.compile(r"\b([^\W\d_]{3,}),?\s+(\d{1,2})(?:er)?\s+([^\W\d_]{3,})\b(?!\.?,?\s+\d{4})")
_WEEKDAY_MONTH_DAY = re.compile(r"\b([^\W\d_]{3,}),?\s+([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?!,?\s+\d{4})")
_YEAR = re.compile(r"(?<![\d.,/-])(1[89]\d\d|20\d\d)(?![\d/-])")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
UNDATED = {"fr": "non daté", "en": "undated"}
INFERRED = {"fr": "date déduite du texte", "en": "date inferred from the text"}


def today() -> datetime.date:
    return datetime.date.today()


@lru_cache(maxsize=4096)
def _parse(candidate: str, lang: str | None) -> str | None:
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", candidate)
    if iso:  # year first is always ISO order: never let a parser swap day and month ("2024-13-01")
        try:
            parsed_day = datetime.date(*map(int, iso.groups()))
        except ValueError:
            return None
        return parsed_day.isoformat() if 1900 <= parsed_day.year <= today().year + 1 else None
    import dateparser

    languages = [lang] if lang in ("fr", "en") else ["fr", "en"]
    languages += [x for x in ("fr", "en") if x not in languages]
    order = "MDY" if lang == "en" else "DMY"
    settings = {"REQUIRE_PARTS": ["day", "month", "year"], "PARSERS": ["custom-formats", "absolute-time"],
                "STRICT_PARSING": True, "DATE_ORDER": order}
    try:
        parsed = dateparser.parse(candidate, languages=languages, settings=settings)
    except (ValueError, OverflowError):
        return None
    if parsed is None or not 1900 <= parsed.year <= today().year + 1:
        return None
    return parsed.date().isoformat()


def find_dates(text: str, lang: str | None = None) -> list[tuple[int, int, str]]:
    """Every calendar date written in full in `text`: (start, end, ISO date), in order of position."""
    return [(m.start(), m.end(), iso) for m in _FULL_DATE.finditer(text) if (iso := _parse(m.group(), lang))]


def parse_date(text: str, lang: str | None = None) -> str | None:
    """The first full calendar date in a line, as ISO `YYYY-MM-DD` ('18 février 2024', 'March 4, 2024',
    '2024-03-04', '04/03/2024' day first unless `lang` is 'en'); None for none, a relative or impossible one."""
    found = find_dates(text, lang)
    return found[0][2] if found else None


@lru_cache(maxsize=4)
def _weekdays(lang: str) -> dict[str, int]:
    """Folded weekday names of a language (babel's locale data) → Python weekday number (Monday 0)."""
    from babel.dates import get_day_names

    names = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_day_names(width, locale=lang).items():
            names[fold(name).rstrip(".")] = number
    return names


@lru_cache(maxsize=1024)
def _month_of(day: int, month_word: str, lang: str) -> int | None:
    """The month a word names in `lang` ('octobre' → 10), by asking dateparser about a full date in 2000."""
    iso = _parse(f"{day} {month_word} 2000", lang) if lang == "fr" else _parse(f"{month_word} {day}, 2000", lang)
    return int(iso[5:7]) if iso else None


def weekday_mentions(text: str, lang: str) -> list[tuple[int, int, int]]:
    """(weekday, day, month) for each 'jeudi 9 octobre' / 'Thursday, October 9' written without a year."""
    weekdays = _weekdays(lang if lang in ("fr", "en") else "en")
    found = []
    mentions = [(m.start(), m.group(1), int(m.group(2)), m.group(3)) for m in _WEEKDAY_DAY_MONTH.finditer(text)]
    mentions += [(m.start(), m.group(1), int(m.group(3)), m.group(2)) for m in _WEEKDAY_MONTH_DAY.finditer(text)]
    for _position, weekday, day, month_word in sorted(mentions):
        number = weekdays.get(fold(weekday))
        if number is None or not 1 <= day <= 31:
            continue
        month = _month_of(day, month_word, lang)
        if month:
            found.append((number, day, month))
    return found


def latest_year(text: str, now: datetime.date | None = None) -> int | None:
    """The latest year the text mentions that is not after the current year (2030 in 'd'ici 2030' is not)."""
    limit = (now or today()).year
    years = [int(y) for y in _YEAR.findall(text) if int(y) <= limit]
    return max(years) if years else None


def infer_date(text: str, lang: str, now: datetime.date | None = None) -> str | None:
    """An article's date inferred from its own text, or None rather than a guess.

    The evidence: a weekday with a day and month and no year ("Jeudi 8 octobre") and the latest year
    the text mentions. The date is that day in that year, or in the next (an article of 2020 often
    names 2019 last), and only when exactly one of the two has the weekday right; a weekday that fits
    neither refuses the inference. Several such mentions: the latest date they give.
    """
    year = latest_year(text, now)
    if year is None:
        return None
    limit = now or today()
    dates = []
    for weekday, day, month in weekday_mentions(text, lang):
        fits = []
        for candidate_year in (year, year + 1):
            try:
                candidate = datetime.date(candidate_year, month, day)
            except ValueError:
                continue
            if candidate.weekday() == weekday and candidate <= limit:
                fits.append(candidate)
        if len(fits) == 1:
            dates.append(fits[0])
    return max(dates).isoformat() if dates else None


# ---------------------------------------------------------------- showing dates

def as_date(iso: str | None) -> datetime.date | None:
    """An ISO `YYYY-MM-DD` string as a date (None for anything else)."""
    m = _ISO.fullmatch(iso or "")
    if not m:
        return None
    try:
        return datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def human_date(iso: str | None, language: str = "fr") -> str | None:
    """'2024-02-18' as '18 février 2024' / '18 February 2024' (babel's locale data); anything else as given."""
    if not iso:
        return None
    day = as_date(iso)
    if day is None:
        return iso
    from babel.dates import format_date

    if language == "fr":
        text = format_date(day, "d MMMM y", locale="fr")
        return "1er" + text[1:] if day.day == 1 else text
    return format_date(day, "d MMMM y", locale="en")


def undated_label(year_hint: int | None, language: str = "fr") -> str:
    """'non daté' / 'undated', with the latest year the text mentions when it mentions one: evidence of
    when it was written at the earliest, never its date ('non daté ; mentionne jusqu'à 2019')."""
    word = UNDATED.get(language, UNDATED["en"])
    if not year_hint:
        return word
    return f"{word} ; mentionne jusqu'à {year_hint}" if language == "fr" else f"{word}; mentions up to {year_hint}"


def date_label(date: str | None, inferred: bool, language: str = "fr", year_hint: int | None = None) -> str:
    """What a citation shows for its date: '18 février 2024', '8 octobre 2020 (date déduite du texte)',
    'non daté ; mentionne jusqu'à 2019'."""
    if not date:
        return undated_label(year_hint, language)
    text = human_date(date, language) or date
    return f"{text} ({INFERRED.get(language, INFERRED['en'])})" if inferred else text


def older_years(citations: Iterable) -> dict[int, str]:
    """{n: year} for the citations older than the most recent year cited, when they span different years.

    What the answer marks ('(2020)') so a reader sees which quoted fact may be out of date; an inferred
    year is marked with '~'. Undated citations are not counted here."""
    dated = [(c.n, c.date[:4], getattr(c, "date_inferred", False)) for c in citations if as_date(c.date)]
    years = {year for _n, year, _inferred in dated}
    if len(years) < 2:
        return {}
    latest = max(years)
    return {n: ("~" if inferred else "") + year for n, year, inferred in dated if year != latest}


_QUOTE_LINE = re.compile(r"^(>.*?)((?:\s*\[\d+\])+)\s*$")


def _evidence(citation) -> tuple:
    """What says when a citation's article was written: its date's year, else the latest year it mentions."""
    day = as_date(citation.date)
    return ("year", day.year) if day else ("hint", getattr(citation, "year_hint", None))


def mark_older_quotes(markdown: str, citations: Sequence, language: str = "fr") -> str:
    """The answer's Markdown with the quotes' dates marked before their [n] markers when the quoted sources
    do not all share one year: a quote from an older year than the latest quoted gets '(2020)' ('~2020'
    when inferred), an undated one '(non daté ; mentionne jusqu'à 2019)'. Unchanged when every quoted source
    is of one year, or all are undated with the same evidence (the sources list says 'undated' anyway)."""
    lines = markdown.split("\n")
    quoted = {int(x) for line in lines if (m := _QUOTE_LINE.match(line)) for x in re.findall(r"\d+", m.group(2))}
    cited = {c.n: c for c in citations if c.n in quoted}
    if len({_evidence(c) for c in cited.values()}) < 2:
        return markdown
    years = older_years(cited.values())
    out = []
    for line in lines:
        m = _QUOTE_LINE.match(line)
        if m:
            numbers = [n for n in (int(x) for x in re.findall(r"\d+", m.group(2))) if n in cited]
            marks = sorted({years[n] for n in numbers if n in years})
            if marks and len(marks) == len({years.get(n) for n in numbers}):
                line = f"{m.group(1)} ({', '.join(marks)}){m.group(2)}"
            elif numbers and all(not as_date(cited[n].date) for n in numbers):
                hints = sorted({cited[n].year_hint for n in numbers if getattr(cited[n], "year_hint", None)})
                line = f"{m.group(1)} ({undated_label(hints[-1] if len(hints) == 1 else None, language)}){m.group(2)}"
        out.append(line)
    return "\n".join(out)


# ---------------------------------------------------------------- --since / --until

def parse_bound(value: str | None, end: bool = False, option: str = "--since") -> datetime.date | None:
    """A date bound from the user: YYYY, YYYY-MM or YYYY-MM-DD (or any full date dateparser reads);
    a year or month given alone means its first day for --since, its last for --until."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?", value)
    if m:
        year, month = int(m.group(1)), int(m.group(2)) if m.group(2) else None
        if month is not None and not 1 <= month <= 12:
            raise InputError(f"{option} {value!r}: no month {month}")
        if not 1 <= year <= 9998:  # datetime's range (with room for the month after), never a ValueError
            raise InputError(f"{option} {value!r}: the year must be between 1 and 9998")
        if not end:
            return datetime.date(year, month or 1, 1)
        if month is None:
            return datetime.date(year, 12, 31)
        following = datetime.date(year + (month == 12), month % 12 + 1, 1)
        return following - datetime.timedelta(days=1)
    iso = parse_date(value)
    if iso is None:
        raise InputError(f"{option} {value!r} is not a date (write YYYY, YYYY-MM or YYYY-MM-DD)")
    return as_date(iso)


def in_range(date: str | None, since: datetime.date | None, until: datetime.date | None) -> bool:
    """Whether an article's date lies within [since, until]; an undated article lies within no bound."""
    if since is None and until is None:
        return True
    day = as_date(date)
    if day is None:
        return False
    return (since is None or day >= since) and (until is None or day <= until)


def check_range(since: datetime.date | None, until: datetime.date | None) -> None:
    if since and until and since > until:
        raise InputError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
