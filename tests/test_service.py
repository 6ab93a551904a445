"""qa.service: question validation, and the QA session used by the CLI, the page and the evaluation."""

from __future__ import annotations

import pytest
from conftest import FakeEmbedder

from qa.errors import InputError
from qa.records import Answer
from qa.service import QA, validate_question
from qa.settings import Settings

SETTINGS = Settings(max_question_chars=1000)


@pytest.mark.parametrize("question", [
    "",
    "   ",
    "\t\n\r ",
    "\u200b\u200b\ufeff",
    "?!",
    "... ? !!! «»",
    "😀🎉",
    "🇫🇷 ?",
    "123 456",
    "\x00\x00",
    "x" * 1001,
    "mot " * 300,
    "a" * 20_000,
])
def test_invalid_questions(question):
    with pytest.raises(InputError) as info:
        validate_question(question, SETTINGS)
    assert "\n" not in str(info.value) and str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("question", [None, 42, 3.5, b"bytes", ["une", "liste"], {"q": "x"}])
def test_non_text_questions(question):
    with pytest.raises(InputError, match="text"):
        validate_question(question, SETTINGS)


@pytest.mark.parametrize("question, cleaned", [
    ("  pourquoi la CNIL a-t-elle accepté ?  ", "pourquoi la CNIL a-t-elle accepté ?"),
    ("qui\u200b a\u00a0déposé\n un recours ?", "qui a déposé un recours ?"),
    ("\ufeffEMC2 ?", "EMC2 ?"),
    ("x" * 1000, "x" * 1000),
    ("é", "é"),
    ("Azure 🙂", "Azure 🙂"),
])
def test_valid_questions_are_cleaned(question, cleaned):
    assert validate_question(question, SETTINGS) == cleaned


def test_too_long_message_gives_the_limit():
    with pytest.raises(InputError, match="1,000"):
        validate_question("mot " * 400, SETTINGS)


def test_qa_builds_a_missing_index_and_says_so(settings, fake_embedder):
    messages: list[str] = []
    qa = QA(settings, embedder=fake_embedder, progress=messages.append)
    assert (settings.index_dir / "manifest.json").is_file()
    assert any("Building the index" in m for m in messages)
    assert len(qa.index.articles) == 3


def test_qa_reuses_a_current_index(qa, settings):
    embedder = FakeEmbedder()
    messages: list[str] = []
    QA(settings, embedder=embedder, progress=messages.append)
    assert messages == [] and embedder.document_calls == []


def test_ask_returns_an_answer(qa):
    answer = qa.ask("Quel est le budget des pistes cyclables à Lyon ?")
    assert isinstance(answer, Answer)
    assert answer.question == "Quel est le budget des pistes cyclables à Lyon ?"
    assert answer.language == "fr"
    assert len(answer.citations) == qa.settings.top_k


def test_ask_keeps_the_question_as_asked(qa):
    asked = "  Quel est le budget\u200b des pistes ?  "
    assert qa.ask(asked).question == asked


@pytest.mark.parametrize("k", [1, 2, 6])
def test_ask_k(qa, k):
    assert len(qa.ask("budget des pistes cyclables", k=k).citations) == k


def test_ask_mode_does_not_change_the_session_settings(qa):
    qa.ask("budget des pistes cyclables", mode="lexical")
    assert qa.settings.mode == "hybrid"


def test_ask_invalid_question_raises(qa):
    with pytest.raises(InputError):
        qa.ask("   ")


def test_ask_many_keeps_input_order_and_errors_in_place(qa):
    questions = [
        "Quel est le budget des pistes cyclables à Lyon ?",
        "",
        "What do the shopkeepers fear?",
        "😀",
        None,
        "Pourquoi les écoles de Bordeaux ferment-elles ?",
        "x" * 5000,
    ]
    results = qa.ask_many(questions)
    assert len(results) == len(questions)
    for question, result in zip(questions, results):
        if question in ("", "😀", None) or (isinstance(question, str) and len(question) > 1000):
            assert isinstance(result, InputError), question
        else:
            assert isinstance(result, Answer) and result.question == question
    assert results[2].language == "en" and results[0].language == "fr"


def test_ask_many_matches_ask_one_by_one(qa):
    questions = ["Quel est le budget des pistes cyclables à Lyon ?", "Qui recommande de faire boire les enfants ?",
                 "heliosatt"]
    batched = qa.ask_many(questions)
    single = [qa.ask(q) for q in questions]
    for b, s in zip(batched, single):
        assert b.to_json() == s.to_json()


def test_ask_many_embeds_the_batch_once(qa):
    qa.embedder.query_calls.clear()
    qa.ask_many(["budget des pistes", "écoles de Bordeaux", "chantier de l’observatoire"])
    assert len(qa.embedder.query_calls) == 1


def test_ask_many_edge_cases(qa):
    assert qa.ask_many([]) == []
    results = qa.ask_many(["", "  "])
    assert all(isinstance(r, InputError) for r in results)
    assert isinstance(qa.ask_many(iter(["budget des pistes"]))[0], Answer)
