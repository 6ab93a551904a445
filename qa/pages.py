"""Web pages in: a saved or fetched news page becomes a Markdown article with front matter in the corpus.

Quotes must be exact slices of a stored file, and a page's tags cannot be cut out of it in place, so
the article is extracted once (trafilatura for the main text and metadata, htmldate for the
publication date) and stored as `NAME.md`: YAML front matter (title, author, date, url, site, lang)
then the text. Everything later (cleaning, which also drops boilerplate the extractor left, chunking,
quoting) reads that file like any other article.

- `qa add page.html` and `qa add https://…` stage the extracted article in a temporary file that the
  usual addition copies into the corpus (`staged_inputs`).
- `qa index` over a corpus holding `X.html` writes `X.md` beside it (`convert_corpus_pages`), marked
  `extracted_from: X.html` with the page's SHA-256, so a changed page is extracted again and a user's
  own `X.md` is never overwritten.
- Fetching (`fetch_page`): http and https only, a time limit for the whole download, a size cap, and
  only HTML responses; each failure is one line naming the address.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .errors import CorpusError, FetchError, InputError, PageError
from .frontmatter import read_front_matter, render_front_matter, with_front_matter
from .load import PAGE_SUFFIXES, read_bounded, scan_corpus
from .records import Progress, quiet
from .text import visible

MAX_PAGE_BYTES = 5_000_000
FETCH_TIMEOUT = 20.0
USER_AGENT = "qa/0.1 (offline news question answering; fetches one page when asked)"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_ADDRESS = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)

_EXTRACTING = threading.Lock()  # one extraction at a time: each clears trafilatura's process-wide duplicate cache


def is_address(value: object) -> bool:
    """Whether a `qa add` argument is an address (scheme://…) rather than a file path."""
    return isinstance(value, str) and bool(_ADDRESS.match(value))


def is_page(path: Path) -> bool:
    return path.suffix.lower() in PAGE_SUFFIXES


# ---------------------------------------------------------------- extraction

def decode_html(raw: bytes, charset: str | None = None) -> str:
    """A page's bytes as text: the declared charset when Python knows it, else trafilatura's detection."""
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    from trafilatura.utils import decode_file

    return decode_file(raw)


def _page_language(html: str) -> str | None:
    """The `lang` attribute of the page's <html> element ('fr', 'en-GB' → 'en'), if any."""
    m = re.search(r"<html\b[^>]*?\blang\s*=\s*[\"']?([a-zA-Z]{2,3})(?:[-_][\w-]+)?", html[:20_000], re.IGNORECASE)
    return m.group(1).lower() if m else None


def extract_page(html: str, origin: str, url: str | None = None, overrides: dict[str, str] | None = None,
                 extra: dict[str, str] | None = None) -> str:
    """The article of a web page as the text of a Markdown file: front matter (title, author, date, url,
    site, lang; `overrides` win, `extra` fields follow) then the article text; PageError naming `origin`
    when the page holds no article text."""
    import trafilatura
    from htmldate import find_date
    from trafilatura.deduplication import LRU_TEST
    from trafilatura.metadata import extract_metadata

    try:
        with _EXTRACTING:
            # Repeated segments are dropped within this page only: trafilatura counts them in one cache for
            # the whole process, so a page extracted again (`qa add` checks a page before adding it, a long
            # process re-extracts changed pages) would otherwise lose its text the third or fourth time.
            LRU_TEST.clear()
            text = trafilatura.extract(html, url=url, output_format="markdown", include_comments=False,
                                       include_formatting=True, include_images=False, include_links=False,
                                       include_tables=True, deduplicate=True)
        meta = extract_metadata(html, default_url=url, extensive=False)
        # The publication date from the page's markup only (no guess from a copyright line or the URL).
        date = find_date(html, extensive_search=False, original_date=True, outputformat="%Y-%m-%d")
    except Exception as exc:  # lxml and the extractors raise many kinds on broken markup
        raise PageError(f"{origin}: the page cannot be read as HTML ({exc.__class__.__name__})") from None
    body = _tidy(text or "")
    if len(re.findall(r"\w+", body)) < 5:
        raise PageError(f"{origin}: no article text found in the page")
    fields = {
        "title": _one_line(getattr(meta, "title", None)),
        "author": _one_line(getattr(meta, "author", None)),
        "date": date,
        "url": _http_url(getattr(meta, "url", None)) or _http_url(url),
        "site": _one_line(getattr(meta, "sitename", None)),
        "lang": _page_language(html),
    }
    fields.update({k: v for k, v in (overrides or {}).items() if v})
    fields.update(extra or {})
    return render_front_matter(fields) + body


def _tidy(markdown: str) -> str:
    """The extractor's Markdown with one blank line between blocks and a final newline."""
    lines = [line.rstrip() for line in markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + "\n" if text else ""


def _one_line(value: object) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None


def _http_url(value: object) -> str | None:
    text = _one_line(value)
    return text if text and re.match(r"https?://[^\s/]+", text, re.IGNORECASE) else None


def read_page_file(path: Path) -> str:
    """A saved page's text, or PageError (missing, empty, too big, unreadable)."""
    raw = read_bounded(path, MAX_PAGE_BYTES, "page", PageError)
    m = _CHARSET.search(raw[:4096].decode("ascii", "replace"))
    return decode_html(raw, m.group(1) if m else None)


# ---------------------------------------------------------------- fetching

@dataclass(frozen=True)
class FetchedPage:
    url: str   # the address finally answered (after redirects)
    html: str


def fetch_page(url: str, timeout: float | None = None, max_bytes: int | None = None) -> FetchedPage:
    """Download one HTML page: http(s) only (redirects included), within `timeout` seconds in all and
    `max_bytes` (FETCH_TIMEOUT, MAX_PAGE_BYTES by default); PageError for a refused address or response,
    FetchError when the server fails."""
    import socket
    import urllib.error
    import urllib.request

    timeout = FETCH_TIMEOUT if timeout is None else timeout
    max_bytes = MAX_PAGE_BYTES if max_bytes is None else max_bytes

    _check_address(url, url)

    class _Redirects(urllib.request.HTTPRedirectHandler):
        def http_error_302(self, req, fp, code, msg, headers):
            location = headers.get("Location") or headers.get("URI")
            if location:  # never follow a redirect to file:, ftp: …
                _check_address(urljoin(req.full_url, location), url)
            return super().http_error_302(req, fp, code, msg, headers)

        http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    opener = urllib.request.build_opener(_Redirects)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"})
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            final = response.geturl() or url
            content_type = response.headers.get("Content-Type", "")
            kind = content_type.split(";")[0].strip().lower()
            if kind and kind not in _HTML_TYPES:
                raise PageError(f"{url}: not an HTML page (the server sent {kind})")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise PageError(f"{url}: the page is {int(length):,} bytes, more than the {max_bytes:,}-byte limit")
            chunks, size = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"{url}: no complete answer within {timeout:g} s")
                chunk = response.read(65_536)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise PageError(f"{url}: the page is more than the {max_bytes:,}-byte limit")
                chunks.append(chunk)
    except (PageError, FetchError):
        raise
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise FetchError(f"{url}: no answer within {timeout:g} s") from None
        raise FetchError(f"{url}: cannot be reached ({exc.reason})") from None
    except TimeoutError:
        raise FetchError(f"{url}: no answer within {timeout:g} s") from None
    except (OSError, ValueError) as exc:  # connection reset, malformed answer, bad port…
        raise FetchError(f"{url}: cannot be fetched ({exc.__class__.__name__}: {' '.join(str(exc).split())[:120]})") from None
    raw = b"".join(chunks)
    if not kind and not re.search(rb"<(?:!doctype\s+html|html[\s>])", raw[:2048], re.IGNORECASE):
        raise PageError(f"{url}: not an HTML page (no content type, and it does not look like HTML)")
    charset = _CHARSET.search(content_type)
    return FetchedPage(final, decode_html(raw, charset.group(1) if charset else None))


def _check_address(address: str, asked: str) -> None:
    parts = urlsplit(address)
    if parts.scheme.lower() not in ("http", "https"):
        raise PageError(f"{asked}: only http:// and https:// addresses can be fetched"
                        + (f" (redirected to {parts.scheme}:)" if address != asked else "")
                        + ("; give a local page as a file path" if parts.scheme.lower() == "file" else ""))
    if not parts.hostname:
        raise PageError(f"{asked}: not a web address (no host)")


def _slug(text: str, limit: int = 60) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:limit].rstrip("-")


def address_file_name(url: str) -> str:
    """The corpus file name for a fetched page: its address's last path segment (or host) as a slug, '.md'."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    stem = re.sub(r"\.(?:s?html?|php|aspx?)$", "", segments[-1], flags=re.IGNORECASE) if segments else ""
    return f"{_slug(stem) or _slug(parts.hostname or '') or 'page'}.md"


# ---------------------------------------------------------------- staging for `qa add`

@dataclass(frozen=True)
class Staged:
    """An input of `qa add` ready to be planned: the file to read, where it goes in the corpus (None: the
    usual place), and how messages name it (the path or address the user gave)."""

    path: Path
    target: Path | None
    shown: str


@contextlib.contextmanager
def staged_inputs(inputs: list, corpus_dir: Path, metadata: dict[str, str] | None = None,
                  progress: Progress = quiet, fetch: Callable[[str], FetchedPage] = fetch_page,
                  ) -> Iterator[list[Staged]]:
    """The inputs of `qa add` as article files: pages and addresses extracted into temporary Markdown files,
    text files given `metadata` (from --title, --date…) copied with front matter; the temporary files
    are removed on leaving. Other files pass through unchanged."""
    metadata = {k: v for k, v in (metadata or {}).items() if v}
    inputs = [found for item in inputs for found in _expand(item)]
    if metadata and len(inputs) != 1:
        raise InputError("--title, --author, --date, --url and --lang describe one article: give one FILE or address")
    work = Path(tempfile.mkdtemp(prefix="qa-add-"))
    try:
        out = []
        for i, item in enumerate(inputs):
            out.append(_stage(item, corpus_dir, metadata, work / str(i), progress, fetch))
        yield out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _expand(item) -> list:
    """A folder given to `qa add` stands for the articles and pages in it (hidden ones left out), sorted."""
    if is_address(str(item)) or not Path(item).is_dir():
        return [item]
    from .load import ARTICLE_SUFFIXES

    folder = Path(item)
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (*ARTICLE_SUFFIXES, *PAGE_SUFFIXES)
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not found:
        raise CorpusError(f"{visible(str(folder))}: no article (.txt, .md) or web page (.html) in this folder")
    return found


def _stage(item, corpus_dir: Path, metadata: dict[str, str], folder: Path, progress: Progress,
           fetch: Callable[[str], FetchedPage]) -> Staged:
    if is_address(str(item)):
        url = str(item)
        _check_address(url, url)
        progress(f"Fetching {url}")
        page = fetch(url)
        today = datetime.date.today().isoformat()
        text = extract_page(page.html, url, page.url, metadata, {"retrieved": today})
        name = address_file_name(read_front_matter(text).fields.get("url") or page.url)
        return _write_staged(folder, name, text, corpus_dir / name, url)
    path = Path(item)
    if is_page(path):
        text = read_page_file(path)
        target = _page_target(path, corpus_dir)
        extra = {}
        if _inside(path, corpus_dir):  # a page kept in the corpus: mark its article as extracted from it
            extra = {"extracted_from": path.name, "extracted_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        text = extract_page(text, str(path), None, metadata, extra)
        return _write_staged(folder, target.name, text, target, str(path))
    if metadata:
        try:
            original = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return Staged(path, None, str(path))  # the usual checks will say what is wrong with it
        try:
            text = with_front_matter(original, metadata)
        except InputError as exc:
            raise InputError(f"{visible(str(path))}: {exc}") from None
        target = _named(path) if _inside(path, corpus_dir) else corpus_dir / path.name
        return _write_staged(folder, path.name, text, target, str(path))
    return Staged(path, None, str(path))


def _write_staged(folder: Path, name: str, text: str, target: Path, shown: str) -> Staged:
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / name
    staged.write_text(text, encoding="utf-8")
    return Staged(staged, target, shown)


def _named(path: Path) -> Path:
    """The absolute path of a file as named, its folder resolved but not its own name: a symbolic link
    stays the link (as `qa.load.doc_name` names it)."""
    return path.parent.resolve() / path.name


def _inside(path: Path, folder: Path) -> bool:
    try:
        _named(path).relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def _page_target(path: Path, corpus_dir: Path) -> Path:
    """Where a page's article goes: beside the page when it is in the corpus, else at the corpus's top."""
    if _inside(path, corpus_dir):
        return _named(path).with_suffix(".md")
    return corpus_dir / f"{path.stem}.md"


# ---------------------------------------------------------------- pages inside the corpus (`qa index`)

def page_files(corpus_dir: Path) -> list[Path]:
    """The saved web pages of a corpus, sorted, by the corpus rule of every reader (`qa.load.scan_corpus`:
    hidden files, bad names, links out of the corpus and aliases left out)."""
    if not corpus_dir.is_dir():
        return []
    return [path for _doc, path in scan_corpus(corpus_dir).pages]


def convert_corpus_pages(corpus_dir: Path, progress: Progress = quiet) -> dict[str, str]:
    """Write `X.md` beside each `X.html` of the corpus whose article is missing or older than the page.

    A page whose `X.md` is the user's own (no `extracted_from: X.html`) is left alone, with a warning;
    so is one with no article text. Returns {page's doc: why it was not converted}.
    """
    from .load import doc_name

    problems: dict[str, str] = {}
    for page in page_files(corpus_dir):
        doc = doc_name(page, corpus_dir)
        target = page.with_suffix(".md")
        try:
            digest = hashlib.sha256(page.read_bytes()).hexdigest()
            if target.exists():
                fields = read_front_matter(target.read_text(encoding="utf-8", errors="replace")).fields
                if fields.get("extracted_from") != page.name:
                    raise PageError(f"{visible(str(page))}: not extracted, since {target.name} beside it is not its extracted article "
                                    "(rename one of them)")
                if fields.get("extracted_sha256") == digest:
                    continue
            text = extract_page(read_page_file(page), str(page), None, None,
                                {"extracted_from": page.name, "extracted_sha256": digest})
            _write_atomically(target, text)
            progress(f"Extracted the article of {doc} into {doc_name(target, corpus_dir)}")
        except (CorpusError, OSError) as exc:
            message = str(exc) if isinstance(exc, CorpusError) else f"{visible(str(page))}: cannot write {target.name} ({exc.strerror or exc})"
            problems[doc] = message
            progress(f"warning: {message}")
    return problems


def _write_atomically(target: Path, text: str) -> None:
    import os

    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{time.time_ns()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
