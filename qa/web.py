"""The page: a thin Gradio shell over `qa.service.QA` (see ../shared/CONTRACT.md).

`build_app` lays out the Gradio Blocks page (title, question box, examples, settings, the answer area)
and wires it to two handlers: `ask_page` (the page's answer as HTML, from qa.web_html) and `ask_json`
(the contract's JSON, exposed as the API endpoint `/ask`: what `qa ask --json` prints, for
gradio_client users). Both check what a caller sends (passages, mode, interface language, dates) and
answer a mistake with one clear line, never a traceback. qa.web_server starts the server.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import TYPE_CHECKING

# Before Gradio is imported anywhere: no telemetry, no version check, no hub calls.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from . import dates  # noqa: E402
from .errors import InputError  # noqa: E402
from .records import Answer  # noqa: E402
from .settings import RETRIEVAL_MODES  # noqa: E402
from .web_html import ANSWER_JS, answer_html, busy_html, corpus_summary, error_html, header_html  # noqa: E402
from .web_notes import UI_LANGUAGES  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr

    from .service import QA
    from .store import StoreView

log = logging.getLogger(__name__)

MAX_PASSAGES = 10
# Questions answered at once (a 2-core machine) and waiting at most; beyond that Gradio refuses with "busy".
# $QA_CONCURRENCY and $QA_QUEUE_SIZE override them when the page starts (a bigger machine, or a load test).
CONCURRENCY = 2
QUEUE_SIZE = 32

GENERIC_ERROR = "Something went wrong while answering; please try again. / Une erreur est survenue ; réessayez."


def ui_language(answer: Answer, language: object = None) -> str:
    """The language of the page's own words for this answer: the setting, or the question's with 'auto'."""
    return _language(language) or answer.language


# ---------------------------------------------------------------- the two handlers

def _passages(k: object, default: int) -> int:
    """The number of passages an API or page call asks for: a whole number from 1 to MAX_PASSAGES (an int, a
    float with no fraction such as the slider's 3.0, or such a number as text), the default when absent;
    InputError for anything else (infinity, NaN, 3.5, True, a list...), never an exception from converting it."""
    wrong = InputError(f"the number of passages must be a whole number between 1 and {MAX_PASSAGES}")
    if k is None or (isinstance(k, str) and not k.strip()):
        return default
    if isinstance(k, bool):
        raise wrong
    if isinstance(k, str):
        if len(k) > 40:
            raise wrong
        try:
            k = float(k.strip())
        except ValueError:
            raise wrong from None
    if isinstance(k, float):
        if not (math.isfinite(k) and k.is_integer()):
            raise wrong
        k = int(k)
    if not isinstance(k, int) or not 1 <= k <= MAX_PASSAGES:
        raise wrong
    return k


def _mode(mode: object) -> str | None:
    if mode in (None, ""):
        return None
    if not isinstance(mode, str) or mode not in RETRIEVAL_MODES:
        raise InputError(f"unknown retrieval mode {_shown(mode)}: choose one of {', '.join(RETRIEVAL_MODES)}")
    return mode


def _language(language: object) -> str | None:
    if language in (None, "", "auto"):
        return None
    if not isinstance(language, str) or language not in UI_LANGUAGES:
        raise InputError(f"unknown interface language {_shown(language)}: choose one of {', '.join(UI_LANGUAGES)}")
    return language


def _bound(value: object, option: str) -> str | None:
    """A date bound as an API or page call sends it: None or text of at most 40 characters (the box's
    limit), for `dates.parse_bound`; InputError for anything else, never silently ignored."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InputError(f"{option} {_shown(value)} is not a date (write YYYY, YYYY-MM or YYYY-MM-DD)")
    return value


def _shown(value: object) -> str:
    """A caller's value in an error message: its repr, cut short (an API caller can send anything, of any size)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def queue_limits() -> tuple[int, int]:
    """(concurrency, queue size): the module's defaults, or $QA_CONCURRENCY / $QA_QUEUE_SIZE (InputError if not whole numbers in range)."""
    values = []
    for name, default, low in (("QA_CONCURRENCY", CONCURRENCY, 1), ("QA_QUEUE_SIZE", QUEUE_SIZE, 0)):
        raw = os.environ.get(name, "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            raise InputError(f"${name} must be a whole number, not {raw[:40]!r}") from None
        if not low <= value <= 10_000:
            raise InputError(f"${name} must be between {low} and 10000, not {value}")
        values.append(value)
    return values[0], values[1]


def cited_articles(answer: Answer, view: StoreView) -> dict[str, str]:
    """The exact text of each article the answer cites (doc -> text), for the source viewer, from the
    snapshot that answered (`view`): a writer replacing an article meanwhile never shifts the offsets."""
    articles = {doc: view.article(doc) for doc in {c.doc for c in answer.citations}}
    return {doc: a.text for doc, a in articles.items() if a is not None}


def answer_for(qa: QA, question: object, k: object = None, mode: object = None,
               view: StoreView | None = None, since: object = None, until: object = None) -> Answer:
    """QA.ask with the page's settings checked (passages 1–10, a known mode, dates as YYYY[-MM[-DD]]);
    InputError when invalid."""
    since_date = dates.parse_bound(_bound(since, "since"), option="since")
    until_date = dates.parse_bound(_bound(until, "until"), end=True, option="until")
    dates.check_range(since_date, until_date)
    return qa.ask(question, k=_passages(k, min(qa.settings.top_k, MAX_PASSAGES)), mode=_mode(mode), view=view,  # type: ignore[arg-type]
                  since=since_date, until=until_date)


def refreshed(qa: QA) -> QA:
    """The session after picking up an index generation another process wrote (`qa add` while the page runs)."""
    try:
        qa.refresh()
    except Exception:  # never let looking for a new index cost an answer from the one in use
        log.exception("could not look for a new index generation")
    return qa


def ask_page(qa: QA, question: object, k: object = None, mode: object = None, language: object = None,
             since: object = None, until: object = None) -> str:
    """The page's handler: the answer's HTML, or a readable error (InputError's message, else a generic one).

    `language` is the interface language setting: 'auto' (or None) follows the question, 'fr' or 'en';
    `since` / `until` keep only articles dated within them (YYYY, YYYY-MM or YYYY-MM-DD, blank for none)."""
    try:
        _language(language)
        with refreshed(qa).store.snapshot() as view:  # the answer and the viewer's articles from one snapshot
            answer = answer_for(qa, question, k, mode, view, since, until)
            return answer_html(answer, cited_articles(answer, view), ui_language(answer, language))
    except InputError as exc:
        return error_html(str(exc), question, language)
    except Exception:  # anything else is logged here and shown without internals
        log.exception("error while answering %r", question)
        return error_html(GENERIC_ERROR, question, language)


def ask_json(qa: QA, question: object, k: object = None, mode: object = None, since: object = None,
             until: object = None) -> dict:
    """The API handler: the contract's JSON object (`qa ask --json`), or {"question", "error"}; `since` /
    `until` as on the page and the CLI."""
    try:
        return answer_for(refreshed(qa), question, k, mode, None, since, until).to_json()
    except InputError as exc:
        return {"question": question, "error": str(exc)}
    except Exception:
        log.exception("error while answering %r", question)
        return {"question": question, "error": GENERIC_ERROR}


# ---------------------------------------------------------------- the page

def build_app(qa: QA) -> gr.Blocks:
    """The page: title, question box (Enter submits), examples, settings, the answer; plus the /ask API."""
    import gradio as gr

    from .service import example_questions

    summary = corpus_summary(qa.store)
    examples_list = example_questions(qa.settings.corpus_dir, qa.store.catalog())
    default_k = min(qa.settings.top_k, MAX_PASSAGES)
    title = f"Questions · {summary['n_articles']} articles"
    concurrency, queue_size = queue_limits()

    def ask(question: str, k: int = default_k, mode: str = qa.settings.mode, since: str = "", until: str = "") -> dict:
        """Answer a question about the articles: the same JSON object as `qa ask --json` (or {"question", "error"}),
        from articles dated within [since, until] when given (YYYY, YYYY-MM or YYYY-MM-DD)."""
        return ask_json(qa, question, k, mode, since, until)

    def page(question: str, k: float, mode: str, language: str, since: str = "", until: str = "") -> str:
        return ask_page(qa, question, k, mode, language, since, until)

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.HTML(header_html(summary), elem_id="qa-title", js_on_load=None)
        with gr.Row(elem_id="qa-ask-row", equal_height=False):
            question = gr.Textbox(
                label="Votre question · Your question",
                placeholder=examples_list[0] if examples_list else "Posez une question · Ask a question",
                lines=1, max_lines=4, max_length=qa.settings.max_question_chars * 2, autofocus=True,
                scale=5, min_width=300, elem_id="qa-question")
            button = gr.Button("Demander · Ask", variant="primary", scale=1, min_width=110, elem_id="qa-ask-btn")
        examples = gr.Examples(examples_list or ["?"], inputs=[question], label="Exemples · Examples",
                               elem_id="qa-examples", examples_per_page=max(1, len(examples_list)), visible=bool(examples_list))
        with gr.Accordion("Réglages · Settings", open=False, elem_id="qa-settings"):
            with gr.Row():
                k = gr.Slider(1, MAX_PASSAGES, value=default_k, step=1, label="Passages cités · Passages cited",
                              elem_id="qa-k")
                mode = gr.Radio(list(RETRIEVAL_MODES), value=qa.settings.mode, label="Recherche · Retrieval mode",
                                info="hybrid = sens + mots exacts · meaning + exact words", elem_id="qa-mode")
            language = gr.Radio([(label, value) for value, label in UI_LANGUAGES.items()], value="auto",
                                label="Langue de l'interface · Interface language",
                                info="les citations restent telles quelles · quotes stay as written",
                                elem_id="qa-ui-language")
            with gr.Row():
                since = gr.Textbox(label="Depuis · Since", placeholder="AAAA[-MM[-JJ]] · YYYY[-MM[-DD]]", max_lines=1,
                                   max_length=40, elem_id="qa-since",
                                   info="articles datés de ce jour ou après · articles dated on or after")
                until = gr.Textbox(label="Jusqu'au · Until", placeholder="AAAA[-MM[-JJ]] · YYYY[-MM[-DD]]", max_lines=1,
                                   max_length=40, elem_id="qa-until",
                                   info="les articles non datés sont alors écartés · undated articles are then left out")
        output = gr.HTML("", elem_id="qa-output", js_on_load=ANSWER_JS, min_height=40)

        common = dict(fn=page, inputs=[question, k, mode, language, since, until], outputs=output, api_visibility="private",
                      concurrency_limit=concurrency, concurrency_id="qa", show_progress_on=output)
        # When an event fails before reaching `page` (the queue is full: Gradio refuses it and shows its own
        # "currently busy" toast; or the server went away), the answer area says so too, in both languages.
        # A browser-only function (fn=None): it needs no free place in the queue.
        failed = dict(fn=None, js=f"() => {json.dumps(busy_html())}", outputs=output, queue=False,
                      show_progress="hidden", api_visibility="private")
        question.submit(**common).failure(**failed)
        button.click(**common).failure(**failed)
        examples.load_input_event.then(**common).failure(**failed)
        gr.api(ask, api_name="ask", concurrency_limit=concurrency, concurrency_id="qa")
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    return demo

