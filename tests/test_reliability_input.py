"""Reliability under bad input: seeded property-based tests (hypothesis) over QA.ask, QA.ask_many and the CLI.

Whatever people paste (nothing, a megabyte, NUL bytes, lone surrogates, right-to-left text, mixed
scripts, emoji, control characters, HTML or Markdown), asking never raises anything but InputError,
and every citation still satisfies the contract's `quote == text[start:end]` against the article file.

Runs are seeded: QA_HYPOTHESIS_SEED=N reproduces or varies them; the seed is printed with any failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import pytest
from conftest import (
    FAKE_QA_BOOTSTRAP,
    FakeEmbedder,
    clean_env,
    make_settings,
    write_corpus,
)
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from qa.errors import InputError
from qa.records import Answer
from qa.service import QA, validate_question
from qa.settings import Settings
from qa.text import clean_input

# Hypothesis's caches go to the temporary folder, not into the working tree (no example database at all:
# runs are reproduced from the seed).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "qa-hypothesis")
SEED = int(os.environ.get("QA_HYPOTHESIS_SEED", "20240318"))
# Questions generated per test (their sum is the ≥ 5,000 the issue asks for).
ASK_EXAMPLES = 1000
ASK_MANY_BATCHES = 600  # of 5 to 25 questions each
HUGE_EXAMPLES = 8

COMMON = dict(database=None, deadline=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
ASKED = {"ask": 0, "ask_many": 0, "huge": 0}


def _seed_note() -> None:
    note(f"hypothesis seed {SEED} (rerun with QA_HYPOTHESIS_SEED={SEED})")


# ------------------------------------------------------------------ strategies

FRENCH = ["Quel", "est", "le", "budget", "des", "pistes", "cyclables", "à", "Lyon", "?", "pourquoi", "les", "écoles",
          "de", "Bordeaux", "ferment", "l’observatoire", "héliostat", "qui", "a", "dit", "quand", "combien", "d’euros",
          "What", "did", "the", "shopkeepers", "fear", "when", "how", "much", "CNIL", "2024", "45", "millions"]
NASTY = [
    "", " ", "\x00", "\x00\x00\x00", "\ufeff", "\u200b", "\u200d", "\u00ad", "\u202e", "\u202c", "\u200f", "\u2066",
    "\x1b[31m", "\x1b[0m", "\x1b]0;titre\x07", "\x07", "\x08", "\x7f", "\x85", "\u2028", "\u2029", "\r\n", "\t", "\x0b",
    "\ud800", "\udfff", "\udc80", "\ud83d",  # lone surrogates
    "مرحبا بالعالم", "שלום עולם", "\u202bعربى\u202c", "ما هي ميزانية ليون ؟",  # right-to-left
    "漢字テスト", "Привет мир", "Ελληνικά", "हिन्दी", "ไทย", "한국어", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Ｆｕｌｌｗｉｄｔｈ", "ﬁn", "①②③",
    "😀", "🇫🇷", "👩‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "\U0001f600" * 5, "\U000e0041",  # emoji, tag character
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</div><b>gras</b>", "&lt;&amp;&#x27;", "<!--",
    "**gras**", "_it_", "[lien](javascript:alert(1))", "# Titre", "> citation", "```\ncode\n```", "| a | b |", "$x^2$",
    "https://exemple.fr/lyon?x=1", "www.exemple.fr", "mailto:a@b.fr", "?", "!!!", "...", "«»", "—", "'", '"', "\\",
    "{", "}", "%s", "{0}", "$(rm -rf /)", "'; DROP TABLE articles; --", "\U0010ffff", "\uffff", "\ufffd", "\ue000",
    "e\u0301", "\u0301\u0301\u0301", "ﷺ", "ǅ", "İ", "ß", "ŉ",
]
_any_char = st.characters(codec=None, categories=None)  # every code point, surrogates included
pieces = st.one_of(
    st.sampled_from(FRENCH),
    st.sampled_from(NASTY),
    st.text(max_size=30),
    st.text(alphabet=_any_char, max_size=20),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn"]), max_size=10),
)
questions = st.lists(st.one_of(pieces, st.just(" ")), max_size=12).map("".join)
non_text = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=20),
                     st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


# ------------------------------------------------------------------ the session under test

@pytest.fixture(scope="module")
def fuzz_qa(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    corpus = write_corpus(root / "corpus")
    return QA(make_settings(corpus, root / "index"), embedder=FakeEmbedder())


@pytest.fixture(scope="module")
def file_texts(fuzz_qa):
    """The article files as the contract reads them, to check quotes against the files themselves."""
    corpus = fuzz_qa.settings.corpus_dir
    return {doc: (corpus / doc).read_text(encoding="utf-8") for doc in fuzz_qa.index.articles}


def check_answer(answer: Answer, question: str, file_texts: dict[str, str], k: int) -> None:
    """A well-formed answer whose every citation is a verbatim slice of its article file."""
    assert isinstance(answer, Answer)
    assert answer.question == question
    assert answer.language in ("fr", "en")
    assert isinstance(answer.found, bool) and isinstance(answer.answer, str) and answer.answer
    assert len(answer.citations) <= k
    for n, citation in enumerate(answer.citations, start=1):
        assert citation.n == n
        text = file_texts[citation.doc]
        assert 0 <= citation.start < citation.end <= len(text)
        assert citation.quote == text[citation.start:citation.end]
    record = answer.to_json()
    line = json.dumps(record, ensure_ascii=True)
    assert json.loads(line) == json.loads(json.dumps(record, ensure_ascii=True))


# ------------------------------------------------------------------ properties

@seed(SEED)
@settings(max_examples=ASK_EXAMPLES, **COMMON)
@given(question=questions)
def test_ask_never_crashes_and_quotes_stay_exact(fuzz_qa, file_texts, question):
    _seed_note()
    ASKED["ask"] += 1
    try:
        answer = fuzz_qa.ask(question)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    check_answer(answer, question, file_texts, fuzz_qa.settings.top_k)


@seed(SEED)
@settings(max_examples=ASK_MANY_BATCHES, **COMMON)
@given(batch=st.lists(st.one_of(questions, questions, questions, non_text), min_size=5, max_size=25),
       k=st.integers(1, 10))
def test_ask_many_never_crashes_and_keeps_order(fuzz_qa, file_texts, batch, k):
    _seed_note()
    ASKED["ask_many"] += len(batch)
    results = fuzz_qa.ask_many(batch, k=k)
    assert len(results) == len(batch)
    for question, result in zip(batch, results):
        if isinstance(result, InputError):
            assert str(result) and "\n" not in str(result)
            continue
        assert isinstance(question, str)
        check_answer(result, question, file_texts, k)


@seed(SEED)
@settings(max_examples=HUGE_EXAMPLES, **COMMON)
@given(size=st.integers(1_000, 1_000_000), piece=st.sampled_from(["a", "mot ", "\x00", "\u200b", "é", "😀", "\ud800",
                                                                "漢", "<b>", "ﷺ"]))
def test_huge_questions_are_refused_quickly(fuzz_qa, size, piece):
    _seed_note()
    ASKED["huge"] += 1
    question = (piece * (size // len(piece) + 1))[:size]
    try:
        answer = fuzz_qa.ask(question)
    except InputError as exc:
        assert "too long" in str(exc) or "please ask a question" in str(exc)
        return
    assert len(clean_input(question)) <= fuzz_qa.settings.max_question_chars
    assert isinstance(answer, Answer)


def test_at_least_5000_generated_questions_were_asked(capsys):
    if not all(ASKED.values()):
        pytest.skip("run with the property tests above")
    with capsys.disabled():
        print(f"\nhypothesis seed {SEED}: {sum(ASKED.values())} generated questions asked {ASKED}")
    assert sum(ASKED.values()) >= 5000, ASKED


@seed(SEED)
@settings(max_examples=1000, **COMMON)
@given(text=st.one_of(questions, st.text(alphabet=_any_char, max_size=200)))
def test_clean_input_is_the_one_normalization(text):
    """Idempotent, NFKC, no invisible characters, whitespace collapsed: for questions and indexed text alike."""
    _seed_note()
    cleaned = clean_input(text)
    assert clean_input(cleaned) == cleaned
    assert unicodedata.is_normalized("NFKC", cleaned)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in cleaned)
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert not any(ch.isspace() and ch != " " for ch in cleaned)


@seed(SEED)
@settings(max_examples=1000, **COMMON)
@given(question=st.one_of(questions, non_text))
def test_validate_question_raises_only_input_error(question):
    _seed_note()
    limits = Settings(max_question_chars=1000)
    try:
        cleaned = validate_question(question, limits)
    except InputError as exc:
        assert exc.exit_code == 2 and "\n" not in str(exc)
        return
    assert isinstance(question, str)
    assert cleaned == clean_input(question) and 0 < len(cleaned) <= 1000


# ------------------------------------------------------------------ clear messages

@pytest.mark.parametrize("question", ["", "   ", "?!?", "...", "😀🎉🇫🇷", "👩‍👩‍👧‍👦", "https://exemple.fr/lyon", "www.exemple.fr",
                                      "\x00\u200b\ufeff", "\ud800\udfff", "« » — …", "12 34 56", "<>", "**"])
def test_no_question_gets_please_ask_a_question(question):
    with pytest.raises(InputError, match="please ask a question"):
        validate_question(question, Settings())


@pytest.mark.parametrize("size", [1001, 5000, 1_000_000])
def test_too_long_question_names_the_documented_limit(size):
    limit = Settings().max_question_chars
    with pytest.raises(InputError, match=f"too long.*limit is {limit:,}"):
        validate_question("mot " * (size // 4 + 1), Settings())


def test_questions_and_indexed_text_share_one_normalization(tmp_path):
    """An article word broken by a soft hyphen or zero-width space matches the question's plain word."""
    from qa.text import fold, terms

    assert fold("hé\u00adberge\u200bment") == fold("hébergement") == "hebergement"
    assert terms("l’hé\u00adbergement") == terms("hébergement")
    corpus = write_corpus(tmp_path / "corpus", {"h.txt": "Le data center d’Ebène assure l’hé\u00adber\u200bgement des données de santé depuis mars.\n"})
    qa = QA(make_settings(corpus, tmp_path / "index"), embedder=FakeEmbedder())
    answer = qa.ask("hébergement des données")
    assert answer.citations and "hé\u00adber\u200bgement" in answer.citations[0].quote
    assert answer.citations[0].quote == (corpus / "h.txt").read_text(encoding="utf-8")[answer.citations[0].start:answer.citations[0].end]


# ------------------------------------------------------------------ through the CLI, once

NASTY_LINES = [
    "Quel est le budget des pistes cyclables à Lyon ?".encode(),
    b"caf\xe9 cr\xe8me ?",                      # Latin-1, not UTF-8
    b"\xff\xfe\x00q\x00u\x00i\x00",            # UTF-16 with BOM
    b"\xc3\x28 invalid continuation",
    b"\xed\xa0\x80 surrogate in CESU-8",
    b"\x00\x00\x00",
    b"\x1b[31mpourquoi les \xc3\xa9coles ferment ?\x1b[0m",
    "ما هي ميزانية ليون ؟".encode(),
    "\u202equi a parlé ?\u202c".encode(),
    "😀😀😀".encode(),
    "漢字 Привет pistes cyclables".encode(),
    b"<script>alert('x')</script> budget ?",
    "**gras** [lien](javascript:alert(1)) écoles ?".encode(),
    b"https://exemple.fr/lyon",
    ("mot " * 3000).encode(),
    "a\u2028b\u2029c\x85 héliostat ?".encode(),
    b"\xef\xbb\xbfWhat did the shopkeepers fear?\r",
]


def test_cli_ask_json_batch_of_nasty_lines(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    env = clean_env(QA_CORPUS=str(corpus), QA_INDEX=str(tmp_path / "index"), QA_MODEL="fake-hash")
    stdin = b"\n".join(NASTY_LINES) + b"\n"
    done = subprocess.run([sys.executable, "-c", FAKE_QA_BOOTSTRAP, "ask", "--json"], input=stdin,
                          capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr
    stdout = done.stdout.decode("utf-8")  # strict: stdout is always UTF-8
    lines = stdout.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == len(NASTY_LINES)
    assert stdout.splitlines() == lines  # no stray line breaks inside a line, even for \u2028 or \x85
    texts = {p.name: p.read_text(encoding="utf-8") for p in corpus.iterdir()}
    for raw, line in zip(NASTY_LINES, lines):
        record = json.loads(line)
        assert record["question"] == raw.decode("utf-8", errors="replace").rstrip("\r")
        if "error" in record:
            assert set(record) == {"question", "error"} and record["error"]
            continue
        assert list(record)[:6] == ["question", "language", "found", "confidence", "answer", "citations"]
        for citation in record["citations"]:
            assert citation["quote"] == texts[citation["doc"]][citation["start"]:citation["end"]]
    errors = [json.loads(line) for line in lines if "error" in json.loads(line)]
    assert any("too long" in e["error"] for e in errors)
    assert any("please ask a question" in e["error"] for e in errors)
