"""YAML front matter at the top of an article file: read it (what it says wins over detection) and write it.

    ---
    title: La métropole de Lyon étend son réseau de pistes cyclables
    author: Jeanne Martin
    date: 2024-02-18
    url: https://www.example.fr/article
    lang: fr
    ---

The block stays in the stored file (offsets count from the file's first character), so cleaning
skips it as metadata, never prose. A leading `---` that does not open a YAML mapping (a Markdown
rule) is not front matter.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from .errors import InputError

# The fields qa reads; others (site, extracted_from...) are kept in the file and shown by `qa articles`.
FIELDS = ("title", "author", "date", "url", "lang")
_OPEN = re.compile(r"\A\ufeff?---[ \t]*\r?\n")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.MULTILINE)
_MAX_FRONT_MATTER = 20_000
_LANG = re.compile(r"^[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*$", re.IGNORECASE)


@dataclass(frozen=True)
class FrontMatter:
    """The parsed block: its fields as text (`date` ISO) and where the article's own text starts."""

    fields: dict[str, str] = field(default_factory=dict)
    end: int = 0  # offset of the first character after the closing line


def read_front_matter(text: str) -> FrontMatter:
    """The file's front matter, or an empty FrontMatter (end 0) when it has none."""
    opening = _OPEN.match(text)
    if not opening:
        return FrontMatter()
    closing = _CLOSE.search(text, opening.end(), min(len(text), opening.end() + _MAX_FRONT_MATTER))
    if not closing:
        return FrontMatter()
    import yaml

    try:
        data = yaml.safe_load(text[opening.end():closing.start()])
    except yaml.YAMLError:
        return FrontMatter()
    if not isinstance(data, dict):
        return FrontMatter()
    fields = {}
    for key, value in data.items():
        text_value = _as_text(str(key).strip().lower(), value)
        if text_value:
            fields[str(key).strip().lower()] = text_value
    return FrontMatter(fields, closing.end())


def _as_text(key: str, value: object) -> str | None:
    """A front-matter value as one line of text: dates as ISO, lists joined, languages as 'fr'/'en'."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value if v is not None)
    text = " ".join(str(value).split())
    if key == "date":
        from .dates import parse_date

        return parse_date(text)
    if key == "lang":
        return text.lower().replace("_", "-").split("-")[0] if _LANG.match(text) else None
    return text or None


def check_fields(fields: dict[str, str | None]) -> dict[str, str]:
    """The given metadata (from `qa add --title …`) checked: a date qa can read, a language code, http(s) URL.

    InputError names the first bad value."""
    from .dates import parse_date

    out = {}
    for key, value in fields.items():
        if value is None:
            continue
        value = " ".join(str(value).split())
        if not value:
            raise InputError(f"--{key} is empty")
        if key == "date":
            iso = parse_date(value)
            if iso is None:
                raise InputError(f"--date {value!r} is not a date qa can read (write it as YYYY-MM-DD)")
            value = iso
        elif key == "lang":
            if not _LANG.match(value):
                raise InputError(f"--lang {value!r} is not a language code (such as fr or en)")
            value = value.lower().replace("_", "-").split("-")[0]
        elif key == "url" and not re.match(r"https?://\S+$", value, re.IGNORECASE):
            raise InputError(f"--url {value!r} is not an http(s) address")
        out[key] = value
    return out


def render_front_matter(fields: dict[str, str | None]) -> str:
    """A front-matter block for the given fields (empty ones left out), ending with a blank line."""
    import yaml

    kept = {k: v for k, v in fields.items() if v}
    if not kept:
        return ""
    body = yaml.safe_dump(kept, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1_000_000)
    return f"---\n{body}---\n\n"


def with_front_matter(text: str, fields: dict[str, str | None]) -> str:
    """The article text with a front-matter block put before it; InputError if it already has one."""
    if read_front_matter(text).end:
        raise InputError("the file already has front matter; edit it there instead")
    return render_front_matter(fields) + text.lstrip("\ufeff")
