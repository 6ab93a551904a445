"""The `qa` command (CONTRACT.md): JSON lines on stdout, progress and errors on stderr, exit codes 0/1/2.

The CLI loads its model through `qa.embed.load_embedder`; here that returns the fake model for
`--model fake-hash` / `QA_MODEL=fake-hash` (in process through monkeypatch, in a subprocess through a
small bootstrap that installs it before running `python -m qa`).
"""

from __future__ import annotations

import json

import pytest
from conftest import (
    ANSWER_KEYS,
    CITATION_KEYS,
    FAKE_MODEL,
    NBSP,
    clean_env,
    read_jsonl,
    run_qa,
    write_corpus,
)

from qa.cli import main
from qa.generation import MANIFEST

NEW_ARTICLE = """# Marseille ouvre une ligne de tramway

Par Paul Martin. Publié le 10 mai 2024

La ligne T4 reliera le Vieux-Port aux quartiers nord dès l’automne, avec un tramway toutes les six minutes.
"""


@pytest.fixture
def paths(tmp_path, corpus_dir):
    """Options pointing the CLI at the made-up corpus, a fresh index folder and the fake model."""
    index_dir = tmp_path / "index"
    return {"corpus": corpus_dir, "index": index_dir,
            "opts": ["--corpus", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL]}


def invoke(runner, args, input=None, env=None):
    return runner.invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=False)


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_contract_answer(obj, question):
    assert list(obj) == ANSWER_KEYS
    assert obj["question"] == question
    assert obj["language"] in ("fr", "en")
    assert isinstance(obj["found"], bool) and isinstance(obj["answer"], str) and obj["answer"]
    for i, c in enumerate(obj["citations"], start=1):
        assert list(c) == CITATION_KEYS
        assert c["n"] == i
        assert isinstance(c["start"], int) and isinstance(c["end"], int) and c["start"] < c["end"]
        assert isinstance(c["score"], float)
        for key in ("title", "url", "date"):
            assert c[key] is None or isinstance(c[key], str)


def assert_quotes_exact(obj, corpus_dir):
    for c in obj["citations"]:
        assert c["quote"] == (corpus_dir / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]


@pytest.fixture
def built(fake_cli, paths):
    result = invoke(fake_cli, ["index", *paths["opts"]])
    assert result.exit_code == 0, result.stderr
    return paths


# ------------------------------------------------------------------ qa ask

def test_ask_json_from_stdin(fake_cli, paths):
    questions = [
        "Quel est le budget des pistes cyclables à Lyon ?",
        "What do the shopkeepers fear?",
        "\u200b\u200b",          # nothing left after cleaning: an error line, the batch goes on
        "😀 !",                  # no words
        "Qui recommande de faire boire les enfants ?",
    ]
    result = invoke(fake_cli, ["ask", "--json", *paths["opts"]], input="\n".join(questions) + "\n")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(questions), "exactly one line per question, nothing else on stdout"
    objects = [json.loads(line) for line in lines]
    for question, obj in zip(questions, objects):
        if question in ("\u200b\u200b", "😀 !"):
            assert list(obj) == ["question", "error"]
            assert obj["question"] == question and obj["error"]
        else:
            assert_contract_answer(obj, question)
            assert_quotes_exact(obj, paths["corpus"])
    assert objects[1]["language"] == "en" and objects[0]["language"] == "fr"
    # The missing index was built first, and that was said on stderr.
    assert "Building the index" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_json_citation_metadata(fake_cli, built):
    result = invoke(fake_cli, ["ask", "--json", "-k", "10", *built["opts"], "budget des pistes cyclables de Lyon"])
    [obj] = read_jsonl(result.stdout)
    velo = [c for c in obj["citations"] if c["doc"] == "velo_lyon.txt"]
    assert velo and all(c["title"] == "Lyon étend son réseau de pistes cyclables" for c in velo)
    assert all(c["date"] == "2024-03-04" and c["url"] == "https://www.exemple.fr/lyon/pistes-cyclables-2024" for c in velo)
    other = [c for c in obj["citations"] if c["doc"] == "observatoire.txt"]
    assert other and all(c["title"] is None and c["date"] is None and c["url"] is None for c in other)
    n_passages = json.loads((built["index"] / MANIFEST).read_text(encoding="utf-8"))["n_passages"]
    assert 5 < len(obj["citations"]) <= min(10, n_passages)  # -k 10 is honoured (the default is 5)
    assert any(NBSP in c["quote"] for c in obj["citations"])  # quotes are exact, non-breaking spaces included


def test_ask_question_as_arguments_and_text_output(fake_cli, built):
    result = invoke(fake_cli, ["ask", *built["opts"], "Quel", "est", "le", "budget", "?"])
    assert result.exit_code == 0
    assert "[1]" in result.stdout and "velo_lyon.txt" in result.stdout
    assert result.stderr == ""


def test_ask_uses_environment_variables(fake_cli, built):
    env = {"QA_CORPUS": str(built["corpus"]), "QA_INDEX": str(built["index"]), "QA_MODEL": FAKE_MODEL}
    result = invoke(fake_cli, ["ask", "--json", "budget des pistes"], env=env)
    assert result.exit_code == 0, result.stderr
    assert len(read_jsonl(result.stdout)) == 1
    assert "Building" not in result.stderr  # the index built with the same settings is reused


def test_ask_single_invalid_question_exits_2(fake_cli, built):
    result = invoke(fake_cli, ["ask", *built["opts"], "?!?"])
    assert result.exit_code == 2
    assert len(stderr_lines(result)) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
    as_json = invoke(fake_cli, ["ask", "--json", *built["opts"], "?!?"])
    assert as_json.exit_code == 2
    assert read_jsonl(as_json.stdout) == [{"question": "?!?", "error": read_jsonl(as_json.stdout)[0]["error"]}]


def test_ask_with_empty_stdin_exits_2(fake_cli, built):
    result = invoke(fake_cli, ["ask", "--json", *built["opts"]], input="")
    assert result.exit_code == 2
    assert stderr_lines(result) == [line for line in stderr_lines(result) if line.startswith("qa: error:")]
    assert "no question" in result.stderr and result.stdout == ""
    blank = invoke(fake_cli, ["ask", "--json", *built["opts"]], input="\n  \n")  # two blank lines: two error lines
    assert blank.exit_code == 2 and len(read_jsonl(blank.stdout)) == 2


@pytest.mark.parametrize("args", [
    ["ask", "--bogus", "q"],
    ["ask", "-k", "0", "q"],
    ["ask", "-k", "101", "q"],
    ["ask", "-k", "deux", "q"],
    ["ask", "--mode", "semantic", "q"],
    ["eval"],
    ["add"],
    ["nonexistent-command"],
])
def test_bad_usage_exits_2_without_traceback(fake_cli, paths, args):
    result = invoke(fake_cli, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert "error" in result.stderr.lower()


@pytest.mark.parametrize("args", [["ask", "--bogus", "q"], ["ask", "-k", "0", "q"]])
def test_bad_usage_is_one_line_on_stderr(fake_cli, args):
    result = invoke(fake_cli, args)
    assert result.exit_code == 2
    assert len(stderr_lines(result)) == 1


def test_index_with_missing_corpus_folder_exits_2(fake_cli, tmp_path):
    result = invoke(fake_cli, ["index", "--corpus", tmp_path / "nowhere", "--index", tmp_path / "index",
                               "--model", FAKE_MODEL])
    assert result.exit_code == 2
    lines = stderr_lines(result)
    assert lines[-1].startswith("qa: error:") and "nowhere" in lines[-1]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_ask_with_missing_corpus_folder_exits_2(fake_cli, tmp_path):
    result = invoke(fake_cli, ["ask", "--corpus", tmp_path / "nowhere", "--index", tmp_path / "index",
                               "--model", FAKE_MODEL, "une question ?"])
    assert "Traceback" not in result.stderr
    assert len(stderr_lines(result)) == 1 and result.stdout == ""
    assert result.exit_code == 2


def test_ask_with_missing_corpus_folder_fails_cleanly(fake_cli, tmp_path):
    result = invoke(fake_cli, ["ask", "--corpus", tmp_path / "nowhere", "--index", tmp_path / "index",
                               "--model", FAKE_MODEL, "une question ?"])
    assert result.exit_code in (1, 2)
    assert len(stderr_lines(result)) == 1 and "nowhere" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_ask_on_a_corrupt_index_rebuilds_it(fake_cli, built):
    (built["index"] / "embeddings.npy").write_bytes(b"\x93NUMPY garbage")
    result = invoke(fake_cli, ["ask", "--json", *built["opts"], "budget des pistes"])
    assert result.exit_code == 0
    assert "checksum" in result.stderr
    assert len(read_jsonl(result.stdout)) == 1


# ------------------------------------------------------------------ qa index

def test_index_twice_second_is_up_to_date(fake_cli, paths):
    first = invoke(fake_cli, ["index", *paths["opts"]])
    assert first.exit_code == 0 and first.stdout == ""
    assert "Index written" in first.stderr
    manifest = (paths["index"] / MANIFEST).read_bytes()
    second = invoke(fake_cli, ["index", *paths["opts"]])
    assert second.exit_code == 0
    assert "up to date" in second.stderr
    assert (paths["index"] / MANIFEST).read_bytes() == manifest


def test_index_force_rebuilds(fake_cli, built):
    result = invoke(fake_cli, ["index", "--force", *built["opts"]])
    assert result.exit_code == 0 and "Index written" in result.stderr


def test_index_rebuilds_after_a_corpus_change(fake_cli, built):
    (built["corpus"] / "tramway.md").write_text(NEW_ARTICLE, encoding="utf-8")
    result = invoke(fake_cli, ["index", *built["opts"]])
    assert result.exit_code == 0
    assert "1 added" in result.stderr and "Index written" in result.stderr


def test_index_check(fake_cli, built):
    result = invoke(fake_cli, ["index", "--check", *built["opts"]])
    assert result.exit_code == 0, result.stderr
    assert "healthy" in result.stdout and "3 articles" in result.stdout


def test_index_check_corrupt(fake_cli, built):
    (built["index"] / "passages.jsonl").write_text("", encoding="utf-8")
    result = invoke(fake_cli, ["index", "--check", *built["opts"]])
    assert result.exit_code == 1
    assert len(stderr_lines(result)) == 1 and "passages.jsonl" in result.stderr
    assert "Traceback" not in result.stderr


def test_index_check_stale(fake_cli, built):
    (built["corpus"] / "tramway.md").write_text(NEW_ARTICLE, encoding="utf-8")
    result = invoke(fake_cli, ["index", "--check", *built["opts"]])
    assert result.exit_code == 1
    assert "stale" in result.stderr and "1 added" in result.stderr


def test_index_check_missing(fake_cli, paths):
    result = invoke(fake_cli, ["index", "--check", *paths["opts"]])
    assert result.exit_code == 1 and "no index" in result.stderr


def test_index_check_other_model_is_stale(fake_cli, built):
    opts = ["--corpus", str(built["corpus"]), "--index", str(built["index"]), "--model", "another-model"]
    result = invoke(fake_cli, ["index", "--check", *opts])
    assert result.exit_code == 1 and "stale" in result.stderr


def test_index_rebuilds_a_garbage_manifest(fake_cli, built):
    (built["index"] / MANIFEST).write_text("{ not json", encoding="utf-8")
    result = invoke(fake_cli, ["index", *built["opts"]])
    assert result.exit_code == 0, result.stderr


# ------------------------------------------------------------------ qa add

def test_add_article(fake_cli, built, tmp_path):
    new = tmp_path / "tramway.md"
    new.write_text(NEW_ARTICLE, encoding="utf-8")
    result = invoke(fake_cli, ["add", new, *built["opts"]])
    assert result.exit_code == 0, result.stderr
    assert "Adding tramway.md" in result.stderr and "4 articles" in result.stderr
    assert (built["corpus"] / "tramway.md").is_file()
    again = invoke(fake_cli, ["index", *built["opts"]])
    assert "up to date" in again.stderr
    ask = invoke(fake_cli, ["ask", "--json", "-k", "3", *built["opts"], "ligne de tramway T4 Vieux-Port"])
    [obj] = read_jsonl(ask.stdout)
    assert obj["citations"][0]["doc"] == "tramway.md"


def test_add_without_index_builds_it_first(fake_cli, paths, tmp_path):
    new = tmp_path / "tramway.md"
    new.write_text(NEW_ARTICLE, encoding="utf-8")
    result = invoke(fake_cli, ["add", new, *paths["opts"]])
    assert result.exit_code == 0, result.stderr
    assert "4 articles" in result.stderr


@pytest.mark.parametrize("content", [None, b"", "caf\u00e9".encode("latin-1")])
def test_add_bad_file_exits_2(fake_cli, built, tmp_path, content):
    bad = tmp_path / "bad.txt"
    if content is not None:
        bad.write_bytes(content)
    result = invoke(fake_cli, ["add", bad, *built["opts"]])
    assert result.exit_code == 2
    assert len(stderr_lines(result)) == 1 and "bad.txt" in result.stderr
    assert not (built["corpus"] / "bad.txt").exists()


# ------------------------------------------------------------------ qa eval

EVAL_LINES = [
    {"id": "f1", "lang": "fr", "question": "Quel est le budget des pistes cyclables ?", "answerable": True,
     "gold": [{"doc": "velo_lyon.txt", "quote": "Le budget atteint 45\u00a0millions d’euros"}]},
    {"id": "f2", "lang": "fr", "question": "Qui recommande de faire boire les enfants ?", "answerable": True,
     "gold": [{"doc": "canicule_bordeaux.md", "quote": "Sophie Marchand"}]},
    {"id": "e1", "lang": "en", "question": "What did the observatory install?", "answerable": True,
     "gold": [{"doc": "observatoire.txt", "quote": "un héliostat de six mètres"}]},
    {"id": "u1", "lang": "fr", "question": "Quelle est la capitale de l'Australie ?", "answerable": False, "gold": []},
]


def _eval_file(tmp_path, lines=EVAL_LINES):
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    return path


def test_eval_json_and_report(fake_cli, built, tmp_path):
    out = tmp_path / "report"
    result = invoke(fake_cli, ["eval", _eval_file(tmp_path), "--json", "--out", out, *built["opts"]])
    assert result.exit_code == 0, result.stderr
    [metrics] = read_jsonl(result.stdout)
    assert set(metrics) >= {"overall", "fr", "en"}
    overall = metrics["overall"]
    for key in ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "recall@5", "abstention_accuracy",
                "false_abstention_rate", "latency_p50_ms", "latency_p95_ms"):
        assert key in overall
    assert overall["questions"] == 4 and overall["answerable"] == 3 and overall["unanswerable"] == 1
    assert (out / "metrics.json").is_file() and (out / "per_question.jsonl").is_file()
    rows = read_jsonl((out / "per_question.jsonl").read_text(encoding="utf-8"))
    assert sorted(r["id"] for r in rows) == ["e1", "f1", "f2", "u1"]
    passes = [r["pass"] for r in rows]
    assert passes == sorted(passes), "failures first"
    for row in rows:
        for c in row["cited"]:
            assert c["quote"] == (built["corpus"] / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report.")]


def test_eval_table_output(fake_cli, built, tmp_path):
    result = invoke(fake_cli, ["eval", _eval_file(tmp_path), *built["opts"]])
    assert result.exit_code == 0, result.stderr
    assert "mrr@10" in result.stdout and "hit@1" in result.stdout


@pytest.mark.parametrize("bad_line, words", [
    ("{not json", "not valid JSON"),
    (json.dumps({"id": "x", "lang": "fr", "question": "q", "answerable": True,
                 "gold": [{"doc": "velo_lyon.txt", "quote": "pas dans le texte"}]}), "verbatim"),
    (json.dumps({"id": "x", "lang": "fr", "question": "q", "answerable": True,
                 "gold": [{"doc": "absent.txt", "quote": "x"}]}), "unknown article"),
])
def test_eval_bad_file_exits_2_naming_the_line(fake_cli, built, tmp_path, bad_line, words):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(EVAL_LINES[0], ensure_ascii=False) + "\n" + bad_line + "\n", encoding="utf-8")
    result = invoke(fake_cli, ["eval", path, *built["opts"]])
    assert result.exit_code == 2
    assert "bad.jsonl:2:" in result.stderr and words in result.stderr
    assert len(stderr_lines(result)) == 1 and result.stdout == ""


def test_eval_missing_file_exits_2(fake_cli, built, tmp_path):
    result = invoke(fake_cli, ["eval", tmp_path / "nope.jsonl", *built["opts"]])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_version_and_help(fake_cli):
    assert invoke(fake_cli, ["--version"]).exit_code == 0
    result = invoke(fake_cli, ["--help"])
    assert result.exit_code == 0
    for command in ("index", "add", "ask", "eval"):
        assert command in result.stdout


# ------------------------------------------------------------------ python -m qa, in a subprocess

def test_subprocess_ask_json_over_stdin(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    env = clean_env(QA_MODEL=FAKE_MODEL, QA_CORPUS=str(corpus), QA_INDEX=str(tmp_path / "index"))
    questions = ["Quel est le budget des pistes cyclables ?", "   \u200b", "Who recommends giving water to children?"]
    proc = run_qa(["ask", "--json"], input="\n".join(questions) + "\n", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    assert_contract_answer(objects[0], questions[0])
    assert list(objects[1]) == ["question", "error"]
    assert_contract_answer(objects[2], questions[2])
    assert "Building the index" in proc.stderr and "Traceback" not in proc.stderr
    # Run again: the index is reused, nothing is said.
    again = run_qa(["ask", "--json", questions[0]], env=env)
    assert again.returncode == 0 and "Building" not in again.stderr
    assert json.loads(again.stdout) == objects[0]


def test_subprocess_bad_option_exits_2_without_traceback():
    proc = run_qa(["ask", "--no-such-option"], fake=False, env=clean_env())
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert "no-such-option" in proc.stderr


def test_subprocess_missing_corpus_exits_2(tmp_path):
    proc = run_qa(["index", "--corpus", str(tmp_path / "nowhere"), "--index", str(tmp_path / "index"),
                   "--model", FAKE_MODEL])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1].startswith("qa: error:")


def test_subprocess_non_utf8_stdin_line_keeps_stdout_utf8_json(tmp_path):
    """One badly encoded line neither stops the batch nor puts invalid UTF-8 on stdout."""
    import subprocess
    import sys

    from conftest import FAKE_QA_BOOTSTRAP

    corpus = write_corpus(tmp_path / "corpus")
    env = clean_env(QA_MODEL=FAKE_MODEL, QA_CORPUS=str(corpus), QA_INDEX=str(tmp_path / "index"))
    proc = subprocess.run([sys.executable, "-c", FAKE_QA_BOOTSTRAP, "ask", "--json"],
                          input=b"budget des pistes ?\ncaf\xe9 cr\xe8me ?\nQui recommande de boire ?\n",
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    lines = proc.stdout.decode("utf-8").splitlines()  # strict: stdout stays UTF-8
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    assert objects[0]["question"] == "budget des pistes ?" and objects[2]["question"] == "Qui recommande de boire ?"
    assert "error" in objects[1] or list(objects[1]) == ANSWER_KEYS
    assert b"Traceback" not in proc.stderr
