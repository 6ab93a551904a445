"""End to end with the real model (intfloat/multilingual-e5-small, built offline) over the real seeds/.

The seeds index is built once per session (conftest.real_qa); the dev set is answered once in a batch
(conftest.dev_answers). Quality floors here are regression guards, not targets.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from conftest import ANSWER_KEYS, CITATION_KEYS, REAL_MODEL, SEEDS, clean_env, run_qa

from qa.answer import MESSAGES
from qa.cli import main
from qa.generation import MANIFEST
from qa.records import Answer

pytestmark = pytest.mark.model


def seed_text(doc: str) -> str:
    return (SEEDS / doc).read_text(encoding="utf-8")


def test_why_did_the_cnil_accept(real_qa):
    answer = real_qa.ask("pourquoi la CNIL a-t-elle accepté ?")
    assert answer.language == "fr"
    top3 = {c.doc[:3] for c in answer.citations[:3]}
    assert top3 & {"000", "001", "003"}, [c.doc for c in answer.citations]


def test_who_filed_an_appeal(real_qa):
    answer = real_qa.ask("Who filed an appeal with the Conseil d'État?")
    assert answer.language == "en"
    assert answer.found is True
    assert answer.answer.startswith(MESSAGES["en"]["header"])
    assert any(c.doc[:3] in ("000", "002") and "recours" in c.quote for c in answer.citations[:3]), \
        [(c.doc, c.quote[:60]) for c in answer.citations[:3]]


def test_unanswerable_question_abstains_in_french(real_qa):
    answer = real_qa.ask("Quelle est la capitale de l'Australie ?")
    assert answer.language == "fr"
    assert answer.found is False
    assert answer.answer == "Les articles ne permettent pas de répondre à cette question."


def test_typo_is_still_matched(real_qa):
    # no spelling rule: the embedding of a misspelt, accent-less question still lands on the passages
    answer = real_qa.ask("hebergemnt des donnees de sante")
    assert any("hébergement" in c.quote for c in answer.citations[:3])


def test_every_dev_citation_is_an_exact_slice(dev_items, dev_answers):
    assert len(dev_answers) == len(dev_items) >= 80
    texts = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    n = 0
    for item, answer in zip(dev_items, dev_answers):
        assert isinstance(answer, Answer), item.id
        assert answer.citations, item.id
        data = answer.to_json()
        assert list(data) == ANSWER_KEYS
        for c in data["citations"]:
            assert list(c) == CITATION_KEYS
            assert c["quote"] == texts[c["doc"]][c["start"]:c["end"]], (item.id, c["n"])
            n += 1
        markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.answer)}
        assert markers <= {c.n for c in answer.citations}, item.id
        if answer.found:
            assert markers, item.id
    assert n >= 10 * len(dev_items)


def test_answer_languages_follow_the_dev_set(dev_items, dev_answers):
    agree = sum(answer.language == item.lang for item, answer in zip(dev_items, dev_answers))
    assert agree >= 0.95 * len(dev_items)


def test_subprocess_ask_json_over_stdin(real_qa, real_settings):
    env = clean_env(QA_CORPUS=str(SEEDS), QA_INDEX=str(real_settings.index_dir), QA_MODEL=REAL_MODEL)
    questions = ["pourquoi la CNIL a-t-elle accepté ?", "Who filed an appeal with the Conseil d'État?",
                 "Quelle est la capitale de l'Australie ?"]
    proc = run_qa(["ask", "--json"], fake=False, input="\n".join(questions) + "\n", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    for question, line in zip(questions, lines):
        obj = json.loads(line)
        assert list(obj) == ANSWER_KEYS and obj["question"] == question
        for c in obj["citations"]:
            assert list(c) == CITATION_KEYS
            assert c["quote"] == seed_text(c["doc"])[c["start"]:c["end"]]
    assert [json.loads(line)["found"] for line in lines][2] is False
    assert "Building" not in proc.stderr and "Traceback" not in proc.stderr


def test_index_on_unchanged_seeds_is_reused(real_qa, real_settings):
    manifest = (real_settings.index_dir / MANIFEST).read_bytes()
    result = CliRunner().invoke(main, ["index", "--corpus", str(SEEDS), "--index", str(real_settings.index_dir),
                                       "--model", REAL_MODEL])
    assert result.exit_code == 0, result.stderr
    assert "up to date" in result.stderr
    assert (real_settings.index_dir / MANIFEST).read_bytes() == manifest
