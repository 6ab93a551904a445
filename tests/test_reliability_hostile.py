"""Issue 19: what hostile probing found, each closed at its root.

1. every stdin line, blank ones included, gets exactly one `qa ask --json` line; 2–4. one rule for what
the corpus folder holds, applied by every reader (symbolic links are followed only inside the corpus, an
alias of another article is a duplicate, file names must be UTF-8 without control characters); 5. the
terminal never receives an article's control characters; 6. the page's API checks its arguments; 7. no
message shows a store password; 8. an unknown store URL is a usage error; 9. failed logins are throttled.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
from conftest import FAKE_MODEL, clean_env, make_settings, read_jsonl, run_qa, write_corpus

from qa.cli import main
from qa.errors import InputError
from qa.generation import MANIFEST

GOOD_EXTRA = "Le conseil municipal de Nantes a adopté mardi un budget de 12 millions d’euros pour rénover la piscine Léo-Lagrange.\n"
OTHER_EXTRA = "La ville de Rennes a inauguré samedi une médiathèque de quatre étages, ouverte le dimanche.\n"
QUESTION = "Quel est le budget des pistes cyclables à Lyon ?"


def invoke(runner, args, input=None, env=None):
    return runner.invoke(main, [a if isinstance(a, str) else str(a) for a in args], input=input, env=env,
                         catch_exceptions=False)


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def opts(corpus_dir, tmp_path):
    return ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--model", FAKE_MODEL]


@pytest.fixture
def built(fake_cli, opts):
    result = invoke(fake_cli, ["index", *opts])
    assert result.exit_code == 0, result.stderr
    return opts


def manifest(tmp_path) -> dict:
    return json.loads((tmp_path / "index" / MANIFEST).read_text(encoding="utf-8"))


def corpus_state(corpus_dir: Path) -> dict:
    """Every entry of the corpus (names as bytes) → its bytes, or where it links to."""
    state = {}
    for dirpath, _dirs, files in os.walk(os.fsencode(corpus_dir)):
        for name in files:
            path = os.path.join(dirpath, name)
            state[path] = ("link", os.readlink(path)) if os.path.islink(path) else Path(os.fsdecode(path)).read_bytes()
    return state


def assert_healthy_and_answering(runner, opts, corpus_dir, n_articles):
    """`qa index --check` healthy, and `qa ask` answers from the index as it is (nothing rebuilt)."""
    check = invoke(runner, ["index", "--check", *opts])
    assert check.exit_code == 0, check.stderr
    assert f"from {n_articles} articles" in check.stdout
    ask = invoke(runner, ["ask", "--json", *opts, QUESTION])
    assert ask.exit_code == 0, ask.stderr
    assert "Building" not in ask.stderr and "Traceback" not in ask.stderr
    [answer] = read_jsonl(ask.stdout)
    assert answer["citations"]
    for c in answer["citations"]:
        assert c["quote"] == (corpus_dir / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]
    return answer


# ------------------------------------------------------------------ 1. one line out per line in

# Lines that str.strip() or str.splitlines() treat as blank or as line breaks.
BLANKS = ["", " ", "\t", "\u00a0", "\u3000", "\u2028", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\r", " \r"]


def test_every_stdin_line_blank_ones_included_gets_one_json_line(fake_cli, built):
    questions = ["Qui a déposé un recours ?", *BLANKS, "CNIL"]
    result = invoke(fake_cli, ["ask", "--json", *built], input="\n".join(questions) + "\n")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[-1] == "" and len(lines[:-1]) == len(questions)
    records = [json.loads(line) for line in lines[:-1]]
    for asked, record in zip(questions, records):
        if asked in BLANKS:
            assert record == {"question": asked.rstrip("\r"), "error": record["error"]}
            assert "please ask a question" in record["error"]
        else:
            assert record["question"] == asked and "citations" in record
    # Each invalid line is also named on stderr (by its line number), in --json as in text mode.
    assert [line for line in lines_of(result.stderr) if "please ask a question" in line][0].startswith("qa: line 2:")


def test_text_mode_reports_blank_lines_as_json_mode_does(fake_cli, built):
    result = invoke(fake_cli, ["ask", *built], input="Qui recommande de faire boire les enfants ?\n\nbudget des pistes ?\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("[1]") >= 2  # both questions answered
    errors = lines_of(result.stderr)
    assert len(errors) == 1 and errors[0].startswith("qa: line 2:") and "please ask a question" in errors[0]


def test_one_invalid_question_exits_2_with_its_line_on_stdout_and_stderr(fake_cli, built):
    for question in ("", "   "):
        result = invoke(fake_cli, ["ask", "--json", *built, question])
        assert result.exit_code == 2
        [record] = read_jsonl(result.stdout)
        assert set(record) == {"question", "error"} and "please ask a question" in record["error"]
        [line] = lines_of(result.stderr)
        assert line.startswith("qa: error:") and "please ask a question" in line
        text = invoke(fake_cli, ["ask", *built, question])  # the same line in text mode, and nothing on stdout
        assert text.exit_code == 2 and text.stdout == ""
        assert lines_of(text.stderr) == [line]


def test_only_blank_lines_on_stdin_give_one_error_line_each_and_exit_2(fake_cli, built):
    result = invoke(fake_cli, ["ask", "--json", *built], input="\n  \n")
    assert result.exit_code == 2
    assert [r["question"] for r in read_jsonl(result.stdout)] == ["", "  "]
    empty = invoke(fake_cli, ["ask", "--json", *built], input="")
    assert empty.exit_code == 2 and empty.stdout == "" and "no question" in empty.stderr


# ------------------------------------------------------------------ 2. links out of the corpus

def test_a_link_out_of_the_corpus_is_skipped_with_a_warning_everywhere(fake_cli, corpus_dir, opts, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(GOOD_EXTRA, encoding="utf-8")
    (corpus_dir / "h.txt").symlink_to(outside / "secret.txt")
    (corpus_dir / "dossier").symlink_to(outside, target_is_directory=True)
    (corpus_dir / "cassé.txt").symlink_to(tmp_path / "nowhere.txt")
    built = invoke(fake_cli, ["index", *opts])
    assert built.exit_code == 0, built.stderr
    assert "Traceback" not in built.stderr
    warnings = [line for line in lines_of(built.stderr) if line.startswith("warning: skipped")]
    assert any("h.txt" in w and "outside the corpus" in w for w in warnings), built.stderr
    assert any("dossier" in w and "folder" in w for w in warnings), built.stderr
    assert any("cassé.txt" in w and "broken symbolic link" in w for w in warnings), built.stderr
    assert manifest(tmp_path)["n_articles"] == 3
    answer = assert_healthy_and_answering(fake_cli, opts, corpus_dir, 3)
    assert all(c["doc"] != "h.txt" for c in answer["citations"])
    again = invoke(fake_cli, ["index", *opts])
    assert again.exit_code == 0 and "up to date" in again.stderr  # the skipped links count in the corpus state
    added = invoke(fake_cli, ["add", corpus_dir / "h.txt", *opts])
    assert added.exit_code == 2
    [line] = lines_of(added.stderr)
    assert "h.txt" in line and "outside the corpus" in line


def test_the_page_and_the_library_apply_the_same_rule(tmp_path, corpus_dir, fake_embedder):
    from qa.load import load_corpus, scan_corpus
    from qa.service import QA

    (tmp_path / "secret.txt").write_text(GOOD_EXTRA, encoding="utf-8")
    (corpus_dir / "h.txt").symlink_to(tmp_path / "secret.txt")
    warnings: list[str] = []
    assert sorted(a.doc for a in load_corpus(corpus_dir, warn=warnings.append)) == [
        "canicule_bordeaux.md", "observatoire.txt", "velo_lyon.txt"]
    assert len(warnings) == 1 and "h.txt" in warnings[0] and "outside the corpus" in warnings[0]
    assert list(scan_corpus(corpus_dir).skipped) == ["h.txt"]
    said: list[str] = []
    qa = QA(make_settings(corpus_dir, tmp_path / "index"), embedder=fake_embedder, progress=said.append)  # what the page does
    assert qa.ask(QUESTION).citations
    assert any("h.txt" in line and "outside the corpus" in line for line in said)


# ------------------------------------------------------------------ 3. an alias inside the corpus

def test_an_alias_inside_the_corpus_is_skipped_as_a_duplicate(fake_cli, corpus_dir, opts, tmp_path, built):
    (corpus_dir / "alias.txt").symlink_to("observatoire.txt")
    plain = invoke(fake_cli, ["index", *opts])
    assert plain.exit_code == 0, plain.stderr
    assert "up to date" not in plain.stderr  # the alias is a change of the corpus, not ignored silently
    [warning] = [line for line in lines_of(plain.stderr) if "alias.txt" in line]
    assert "observatoire.txt" in warning and "duplicate" in warning
    forced = invoke(fake_cli, ["index", "--force", *opts])
    assert forced.exit_code == 0 and "alias.txt" in forced.stderr
    assert manifest(tmp_path)["n_articles"] == 3
    assert_healthy_and_answering(fake_cli, opts, corpus_dir, 3)
    added = invoke(fake_cli, ["add", corpus_dir / "alias.txt", *opts])
    assert added.exit_code == 2 and "duplicate" in added.stderr


def test_a_link_to_a_file_the_corpus_does_not_index_itself_is_followed(fake_cli, corpus_dir, opts, tmp_path):
    drafts = corpus_dir / ".brouillons"
    drafts.mkdir()
    (drafts / "piscine.txt").write_text(GOOD_EXTRA, encoding="utf-8")
    (corpus_dir / "piscine.txt").symlink_to(Path(".brouillons") / "piscine.txt")
    (corpus_dir / "piscine bis.txt").symlink_to(Path(".brouillons") / "piscine.txt")
    built = invoke(fake_cli, ["index", *opts])
    assert built.exit_code == 0, built.stderr
    assert "piscine bis.txt" in built.stderr and "duplicate" in built.stderr
    assert manifest(tmp_path)["n_articles"] == 4
    ask = invoke(fake_cli, ["ask", "--json", "-k", "1", *opts, "budget de la piscine Léo-Lagrange"])
    [answer] = read_jsonl(ask.stdout)
    c = answer["citations"][0]
    assert c["doc"] == "piscine.txt"
    assert c["quote"] == (corpus_dir / "piscine.txt").read_text(encoding="utf-8")[c["start"]:c["end"]]


# ------------------------------------------------------------------ 4. file names that are not UTF-8

def test_a_file_name_that_is_not_utf8_is_skipped_by_index_and_refused_by_add(fake_cli, corpus_dir, opts, tmp_path):
    with open(os.path.join(os.fsencode(corpus_dir), b"caf\xe9.txt"), "wb") as f:
        f.write(OTHER_EXTRA.encode())
    built = invoke(fake_cli, ["index", *opts])
    assert built.exit_code == 0, built.stderr
    [warning] = [line for line in lines_of(built.stderr) if "caf" in line]
    assert "caf\\xe9.txt" in warning and "not valid UTF-8" in warning
    assert manifest(tmp_path)["n_articles"] == 3
    assert_healthy_and_answering(fake_cli, opts, corpus_dir, 3)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    with open(os.path.join(os.fsencode(incoming), b"cr\xe8me.txt"), "wb") as f:
        f.write(GOOD_EXTRA.encode())
    before = corpus_state(corpus_dir)
    added = invoke(fake_cli, ["add", os.fsdecode(os.path.join(os.fsencode(incoming), b"cr\xe8me.txt")), *opts])
    assert added.exit_code == 2
    [line] = lines_of(added.stderr)
    assert "cr\\xe8me.txt" in line and "not valid UTF-8" in line
    assert corpus_state(corpus_dir) == before
    assert_healthy_and_answering(fake_cli, opts, corpus_dir, 3)


def test_a_non_utf8_name_in_a_subprocess_argv(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    env = clean_env(QA_CORPUS=str(corpus), QA_INDEX=str(tmp_path / "index"), QA_MODEL=FAKE_MODEL)
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt")
    with open(bad, "wb") as f:
        f.write(GOOD_EXTRA.encode())
    import subprocess
    import sys

    from conftest import FAKE_QA_BOOTSTRAP

    done = subprocess.run([sys.executable, "-c", FAKE_QA_BOOTSTRAP, "add", bad], capture_output=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert b"Traceback" not in done.stderr and b"not valid UTF-8" in done.stderr
    assert sorted(os.listdir(os.fsencode(corpus))) == sorted(n.encode() for n in ("canicule_bordeaux.md", "observatoire.txt", "velo_lyon.txt"))


def test_a_file_name_with_a_control_character_is_skipped_and_refused(fake_cli, corpus_dir, opts, tmp_path):
    (corpus_dir / "deux\nlignes.txt").write_text(OTHER_EXTRA, encoding="utf-8")
    (corpus_dir / "\x1b]0;PWNED\x07.txt").write_text(OTHER_EXTRA + "x\n", encoding="utf-8")
    built = invoke(fake_cli, ["index", *opts])
    assert built.exit_code == 0, built.stderr
    assert "\x1b" not in built.stderr and "\x07" not in built.stderr
    assert "deux\\nlignes.txt" in built.stderr and "\\x1b]0;PWNED\\x07.txt" in built.stderr
    assert manifest(tmp_path)["n_articles"] == 3
    new = tmp_path / "trois\nlignes.txt"
    new.write_text(GOOD_EXTRA, encoding="utf-8")
    added = invoke(fake_cli, ["add", new, *opts])
    assert added.exit_code == 2
    [line] = lines_of(added.stderr)
    assert "trois\\nlignes.txt" in line and "control character" in line


# ------------------------------------------------------------------ qa add: the smaller items

def test_add_of_another_file_under_an_indexed_name_needs_replace(fake_cli, corpus_dir, opts, tmp_path, built):
    other = tmp_path / "incoming" / "observatoire.txt"
    other.parent.mkdir()
    other.write_text(GOOD_EXTRA, encoding="utf-8")
    original = (corpus_dir / "observatoire.txt").read_bytes()
    refused = invoke(fake_cli, ["add", other, *opts])
    assert refused.exit_code == 2
    [line] = lines_of(refused.stderr)
    assert "observatoire.txt" in line and "--replace" in line
    assert (corpus_dir / "observatoire.txt").read_bytes() == original
    replaced = invoke(fake_cli, ["add", "--replace", other, *opts])
    assert replaced.exit_code == 0, replaced.stderr
    assert "Replacing observatoire.txt" in replaced.stderr
    assert (corpus_dir / "observatoire.txt").read_text(encoding="utf-8") == GOOD_EXTRA
    # Editing the corpus file itself and adding it again is no replacement by another file.
    (corpus_dir / "observatoire.txt").write_text(OTHER_EXTRA, encoding="utf-8")
    assert invoke(fake_cli, ["add", corpus_dir / "observatoire.txt", *opts]).exit_code == 0
    assert_healthy_and_answering(fake_cli, opts, corpus_dir, 3)


def test_add_of_a_folder_named_like_an_article_says_so(fake_cli, opts, tmp_path, built):
    folder = tmp_path / "x.txt"
    folder.mkdir()
    result = invoke(fake_cli, ["add", folder, *opts])
    assert result.exit_code == 2
    [line] = lines_of(result.stderr)
    assert "x.txt" in line and "folder" in line and "no such file" not in line


def test_add_checks_the_files_before_loading_the_model(fake_cli, opts, tmp_path, built, monkeypatch):
    import qa.embed

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model was loaded before the files were checked")

    monkeypatch.setattr(qa.embed, "load_embedder", no_model)
    bad = tmp_path / "binaire.txt"
    bad.write_bytes(b"\0\1\2")
    result = invoke(fake_cli, ["add", bad, *opts])
    assert result.exit_code == 2 and "binary" in result.stderr
    duplicate = tmp_path / "copie.txt"
    duplicate.write_bytes((Path(opts[1]) / "observatoire.txt").read_bytes())
    result = invoke(fake_cli, ["add", duplicate, *opts])
    assert result.exit_code == 2 and "duplicate" in result.stderr


def test_a_failed_add_leaves_the_corpus_as_it_was(fake_cli, corpus_dir, opts, tmp_path, built, monkeypatch):
    import qa.build
    from qa.errors import IndexStateError

    def disk_full(*_args, **_kwargs):
        raise IndexStateError("cannot write the index: no space left on device")

    monkeypatch.setattr(qa.build, "write_index", disk_full)
    new = tmp_path / "nouveau.txt"
    new.write_text(GOOD_EXTRA, encoding="utf-8")
    other = tmp_path / "incoming" / "observatoire.txt"
    other.parent.mkdir()
    other.write_text(OTHER_EXTRA, encoding="utf-8")
    before = corpus_state(corpus_dir)
    result = invoke(fake_cli, ["add", "--replace", new, other, *opts])
    assert result.exit_code == 1 and "no space left" in result.stderr
    assert corpus_state(corpus_dir) == before
    monkeypatch.undo()


# ------------------------------------------------------------------ 5. control characters of articles

HOSTILE = ("# Piscine\x1b[5m de Nantes\n\n"
           "Le conseil municipal\x1b]0;PWNED\x07\x1b[31m de Nantes a adopté un budget de 12 millions\x9b2J pour la piscine.\x1b[0m\r\n")


def test_text_output_neutralizes_control_characters_and_json_stays_exact(fake_cli, corpus_dir, opts):
    for other in corpus_dir.iterdir():  # the hostile article alone: it is cited whatever the fake model ranks
        other.unlink()
    (corpus_dir / "piscine.md").write_text(HOSTILE, encoding="utf-8", newline="")
    text = invoke(fake_cli, ["ask", *opts, "budget de la piscine de Nantes"])
    assert text.exit_code == 0, text.stderr
    assert "piscine.md" in text.stdout
    for raw in ("\x1b", "\x07", "\x9b", "\r"):
        assert raw not in text.stdout
    assert "\\x1b]0;PWNED\\x07" in text.stdout  # shown, not obeyed
    as_json = invoke(fake_cli, ["ask", "--json", *opts, "budget de la piscine de Nantes"])
    assert not any(0x7f <= ord(ch) <= 0x9f for ch in as_json.stdout)  # C1 controls escaped as \u009b too
    [answer] = read_jsonl(as_json.stdout)
    cited = [c for c in answer["citations"] if c["doc"] == "piscine.md"]
    assert cited and any("\x1b" in c["quote"] for c in cited)
    for c in cited:
        assert c["quote"] == (corpus_dir / "piscine.md").read_text(encoding="utf-8")[c["start"]:c["end"]]


# ------------------------------------------------------------------ 6. the page's API arguments

@pytest.mark.parametrize("k", ["inf", "Infinity", "-inf", "nan", float("inf"), float("nan"), 1e309, 10 ** 400, True,
                               [], {}, [5], "3.5", 3.5, "cinq", 0, 11, -1, object()])
def test_api_refuses_a_bad_number_of_passages(qa, k, caplog):
    from qa import web, web_html

    with caplog.at_level(logging.WARNING):
        record = web.ask_json(qa, QUESTION, k, "hybrid")
        page = web.ask_page(qa, QUESTION, k, "hybrid")
    assert set(record) == {"question", "error"} and "number of passages" in record["error"]
    assert "number of passages" in page and web_html.esc(web.GENERIC_ERROR) not in page
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("k", [3, 3.0, "3", " 3 ", None, ""])
def test_api_accepts_whole_numbers_of_passages(qa, k):
    from qa import web

    record = web.ask_json(qa, QUESTION, k, "hybrid")
    assert "error" not in record and 1 <= len(record["citations"]) <= 5


@pytest.mark.parametrize("mode", [["hybrid"], {"x": 1}, 5, "semantic", "x" * 10_000])
def test_api_refuses_a_bad_mode_or_language(qa, mode, caplog):
    from qa import web

    with caplog.at_level(logging.WARNING):
        record = web.ask_json(qa, QUESTION, 3, mode)
        page = web.ask_page(qa, QUESTION, 3, "hybrid", mode)
    assert "unknown retrieval mode" in record["error"] and len(record["error"]) < 300
    assert "unknown interface language" in page and len(page) < 2_000
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------------ 7. passwords never shown

SECRET_URLS = [
    "postgresql://u:secretpw@[::1/x",
    "postgresql://u:secretpw@[::1]:notaport/db",
    "postgresql://u:secretpw@/db?bogus=1",
    "postgresql://u:secret/pw@host/db",
    "postgresql://u:secret@pw@host/db",
    "postgresql://u:secret%40pw@[::1/x",
    "postgresql://u:secretpw@host/db#x",
    "postgresql://u:secretpw@",
    "postgresql://host/db?sslmode=disable&password=secretpw",
    "postgresql://host/db?password='secretpw'",
    "postgres://u:secretpw@ho st/db",
]


def _leaks(text: str) -> bool:
    return any(secret in text for secret in ("secretpw", "secret/pw", "secret@pw", "secret%40pw", "cretpw"))


@pytest.mark.parametrize("url", SECRET_URLS)
def test_redact_hides_the_password_whatever_the_url_shape(url):
    from qa.urls import redact

    shown = redact(url)
    assert not _leaks(shown) and "***" in shown


@pytest.mark.parametrize("url", [u for u in SECRET_URLS if "[::1/" in u or "bogus" in u or "notaport" in u or "ho st" in u])
def test_connection_errors_never_show_the_password(url, caplog):
    from qa.errors import QAError
    from qa.pgschema import connect

    with caplog.at_level(logging.DEBUG), pytest.raises(QAError) as raised:
        connect(url)
    assert not _leaks(str(raised.value)), raised.value
    assert not any(_leaks(r.getMessage()) for r in caplog.records)


def test_the_cli_never_prints_the_password(tmp_path):
    env = clean_env(QA_MODEL=FAKE_MODEL, QA_CORPUS=str(write_corpus(tmp_path / "corpus")), QA_INDEX=str(tmp_path / "index"))
    done = run_qa(["ask", "--store", "postgresql://u:secretpw@[::1/x", "test"], env=env)
    assert done.returncode == 2
    assert not _leaks(done.stdout + done.stderr)
    [line] = lines_of(done.stderr)
    assert line.startswith("qa: error:") and "***" in line


def test_settings_repr_hides_the_store():
    from qa.settings import Settings

    assert "secretpw" not in repr(Settings(store="postgresql://u:secretpw@h/db"))


# ------------------------------------------------------------------ 8. unknown store URLs

BAD_STORES = ["postgresql+psycopg://u@h/db", "postgresq://h/db", "mysql://u@h/db", "sqlite:///tmp/x.db",
              "POSTGRESQL://h/db", "index-bis", "postgresql+psycopg://u:secretpw@h/db"]


@pytest.mark.parametrize("store", BAD_STORES)
def test_an_unknown_store_is_a_usage_error(store, fake_cli, built):
    from qa.settings import Settings

    with pytest.raises(InputError) as raised:
        Settings(store=store)
    assert "postgresql://" in str(raised.value) and "secretpw" not in str(raised.value)
    for env, args in (({}, ["--store", store]), ({"QA_STORE": store}, [])):
        result = invoke(fake_cli, ["ask", *built, *args, QUESTION], env=env)
        assert result.exit_code == 2 and result.stdout == ""
        [line] = lines_of(result.stderr)
        assert line.startswith("qa: error:") and "secretpw" not in line


# ------------------------------------------------------------------ 9. failed logins throttled

def test_login_throttle_grows_the_delay_per_client():
    from qa.web_login import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(free_failures=3, first_delay_s=1.0, max_delay_s=8.0, forget_after_s=60.0, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.attempt("a") == 0
        throttle.failed("a")
    waits = []
    for _ in range(6):
        assert throttle.attempt("a") == 0  # a try is let through once the lockout has passed...
        waits.append(throttle.failed("a"))  # ...and each failure then locks the client out longer
        assert throttle.attempt("a") == pytest.approx(waits[-1])
        assert throttle.attempt("b") == 0  # another client is not concerned
        now[0] += waits[-1]
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    throttle.failed("a")
    now[0] += 61  # forgotten after a quiet minute
    assert throttle.attempt("a") == 0
    throttle.failed("a")
    assert throttle.attempt("a") == 0  # the count started again
    throttle.succeeded("a")
    assert throttle.failures("a") == 0


def test_failed_logins_to_the_page_are_throttled_and_logged(tmp_path, fake_embedder, corpus_dir, caplog):
    import httpx

    from qa import web_login, web_server
    from qa.service import QA

    qa = QA(make_settings(corpus_dir, tmp_path / "index"), embedder=fake_embedder)
    port = _free_port()
    with caplog.at_level(logging.WARNING, logger="qa.web_login"):
        demo = web_server.serve(qa=qa, port=port, auth=("ana", "s3cret"), block=False, progress=lambda _m: None)
        try:
            url = f"http://127.0.0.1:{port}/login"
            started = time.perf_counter()
            codes = [httpx.post(url, data={"username": "ana", "password": f"wrong{i}"}).status_code for i in range(12)]
            elapsed = time.perf_counter() - started
            assert codes[:web_login.LoginThrottle.FREE_FAILURES + 1] == [400] * (web_login.LoginThrottle.FREE_FAILURES + 1)
            assert set(codes[web_login.LoginThrottle.FREE_FAILURES + 1:]) == {429}, codes
            locked = httpx.post(url, data={"username": "ana", "password": "s3cret"})
            assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1  # no guessing while locked out
            assert elapsed < 10
        finally:
            demo.close()
    failures = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    assert len(failures) == web_login.LoginThrottle.FREE_FAILURES + 1 and "127.0.0.1" in failures[-1]
    assert not any("wrong" in r.getMessage() or "s3cret" in r.getMessage() for r in caplog.records)


def test_a_good_login_resets_the_count(tmp_path, fake_embedder, corpus_dir):
    import httpx

    from qa import web_login, web_server
    from qa.service import QA

    qa = QA(make_settings(corpus_dir, tmp_path / "index"), embedder=fake_embedder)
    port = _free_port()
    demo = web_server.serve(qa=qa, port=port, auth=("ana", "s3cret"), block=False, progress=lambda _m: None)
    try:
        url = f"http://127.0.0.1:{port}/login"
        for _ in range(2):
            for i in range(web_login.LoginThrottle.FREE_FAILURES - 1):
                assert httpx.post(url, data={"username": "ana", "password": f"typo{i}"}).status_code == 400
            assert httpx.post(url, data={"username": "ana", "password": "s3cret"}).status_code == 200
    finally:
        demo.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ siblings of the nine

def test_a_mistyped_environment_flag_is_refused_not_taken_for_on(monkeypatch):
    """Like a mistyped store URL (item 8): `QA_INDEX_MMAP=fasle` used to mean "on"."""
    from qa.settings import Settings

    monkeypatch.setenv("QA_INDEX_MMAP", "fasle")
    with pytest.raises(InputError, match="QA_INDEX_MMAP"):
        Settings.from_env()
    for raw, value in (("0", False), ("off", False), ("1", True), ("Yes", True)):
        monkeypatch.setenv("QA_INDEX_MMAP", raw)
        assert Settings.from_env().index_mmap is value


def test_folders_given_for_files_and_files_for_folders_are_named_as_such(fake_cli, built, tmp_path, corpus_dir):
    """Like `qa add` of a folder named x.txt: `qa eval FOLDER` and `--corpus FILE` said "no such file" / "not found"."""
    folder = tmp_path / "questions.jsonl"
    folder.mkdir()
    result = invoke(fake_cli, ["eval", folder, *built])
    assert result.exit_code == 2
    [line] = lines_of(result.stderr)
    assert "directory" in line and "no such file" not in line.lower()
    result = invoke(fake_cli, ["index", "--corpus", corpus_dir / "observatoire.txt", "--index", tmp_path / "i2", "--model", FAKE_MODEL])
    assert result.exit_code == 2
    line = lines_of(result.stderr)[-1]
    assert line.startswith("qa: error:") and "observatoire.txt is not a folder" in line


def test_eval_lines_end_at_newlines_only(fake_cli, built, tmp_path, corpus_dir):
    """Like item 1: a raw U+2028 or \\x85 inside a JSON string is no line break (splitlines took it for one)."""
    text = (corpus_dir / "observatoire.txt").read_text(encoding="utf-8")
    record = {"id": "q1", "lang": "fr", "question": "Qu’a installé l’observatoire\u2028du pic du Midi\x85 ?",
              "answerable": True, "gold": [{"doc": "observatoire.txt", "quote": text[:60]}]}
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    result = invoke(fake_cli, ["eval", "--json", path, *built])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["overall"]["questions"] == 1


# ------------------------------------------------------------------ web pages (issue 17) under the same rules

PAGES = Path(__file__).resolve().parent / "data" / "pages"
FR_PAGE = PAGES / "fr_hopitaux_cloud.html"
EN_PAGE = PAGES / "en_council_libraries.html"


def test_pages_in_the_corpus_follow_the_corpus_rule(fake_cli, corpus_dir, opts, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / FR_PAGE.name).write_bytes(FR_PAGE.read_bytes())
    os.symlink(outside / FR_PAGE.name, corpus_dir / "dehors.html")  # a link out of the corpus: not extracted
    (corpus_dir / EN_PAGE.name).write_bytes(EN_PAGE.read_bytes())
    os.symlink(EN_PAGE.name, corpus_dir / "alias.html")  # an alias of a page of the corpus
    (corpus_dir / "deux\nlignes.html").write_bytes(EN_PAGE.read_bytes())  # a name holding a line break
    result = invoke(fake_cli, ["index", *opts])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: skipped")]
    assert any("dehors.html" in w and "outside the corpus folder" in w for w in warnings)
    assert any("alias.html" in w and "duplicate" in w for w in warnings)
    assert any("deux\\nlignes.html" in w and "control character" in w for w in warnings)
    assert (corpus_dir / "en_council_libraries.md").is_file()
    for never in ("dehors.md", "alias.md", "deux\nlignes.md"):
        assert not (corpus_dir / never).exists()
    assert "up to date" in invoke(fake_cli, ["index", *opts]).stderr
    assert_healthy_and_answering(fake_cli, opts, corpus_dir, 4)
    # `qa add` refuses the same pages as `qa index` skips.
    added = invoke(fake_cli, ["add", corpus_dir / "dehors.html", *opts])
    assert added.exit_code == 2 and "outside the corpus folder" in added.stderr
    assert not (corpus_dir / "dehors.md").exists()


def test_an_article_from_a_page_under_a_taken_name_needs_replace(fake_cli, corpus_dir, opts, tmp_path, built):
    mine = corpus_dir / "fr_hopitaux_cloud.md"
    mine.write_text(GOOD_EXTRA, encoding="utf-8")  # the user's own article, under the name the page's would take
    assert invoke(fake_cli, ["index", *opts]).exit_code == 0
    saved = tmp_path / "saved" / FR_PAGE.name
    saved.parent.mkdir()
    saved.write_bytes(FR_PAGE.read_bytes())
    refused = invoke(fake_cli, ["add", saved, *opts])
    assert refused.exit_code == 2
    [line] = lines_of(refused.stderr)
    assert "fr_hopitaux_cloud.md" in line and "--replace" in line
    assert mine.read_text(encoding="utf-8") == GOOD_EXTRA
    replaced = invoke(fake_cli, ["add", "--replace", saved, *opts])
    assert replaced.exit_code == 0, replaced.stderr
    assert "Replacing fr_hopitaux_cloud.md" in replaced.stderr
    # The same page saved again, updated: the same address, so the same article, no --replace needed.
    saved.write_text(FR_PAGE.read_text(encoding="utf-8").replace("trois CHU", "quatre CHU"), encoding="utf-8")
    again = invoke(fake_cli, ["add", saved, *opts])
    assert again.exit_code == 0, again.stderr
    assert "quatre CHU" in mine.read_text(encoding="utf-8")
    assert_healthy_and_answering(fake_cli, opts, corpus_dir, 4)


def test_add_checks_pages_and_front_matter_before_loading_the_model(fake_cli, opts, tmp_path, built, monkeypatch):
    import qa.embed

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model was loaded before the files were checked")

    monkeypatch.setattr(qa.embed, "load_embedder", no_model)
    page = tmp_path / "deux\nlignes.html"
    page.write_bytes(EN_PAGE.read_bytes())
    result = invoke(fake_cli, ["add", page, *opts])
    assert result.exit_code == 2
    [line] = lines_of(result.stderr)
    assert "deux\\nlignes" in line and "control character" in line
    has_some = tmp_path / "deja.md"
    has_some.write_text("---\ntitle: Déjà là\n---\n" + GOOD_EXTRA, encoding="utf-8")
    result = invoke(fake_cli, ["add", has_some, "--title", "Autre", *opts])
    assert result.exit_code == 2 and "already has front matter" in result.stderr
    duplicate = tmp_path / "copie.txt"
    duplicate.write_bytes((Path(opts[1]) / "observatoire.txt").read_bytes())
    # Titled, it is another article (its bytes differ): the early check judges what will be stored, so it
    # lets it through to the model.
    with pytest.raises(AssertionError, match="the model was loaded"):
        invoke(fake_cli, ["add", duplicate, "--title", "Une copie", *opts])


def test_a_failed_add_of_a_page_leaves_the_corpus_as_it_was(fake_cli, corpus_dir, opts, tmp_path, built, monkeypatch):
    import qa.build
    from qa.errors import IndexStateError

    def disk_full(*_args, **_kwargs):
        raise IndexStateError("cannot write the index: no space left on device")

    monkeypatch.setattr(qa.build, "write_index", disk_full)
    saved = tmp_path / FR_PAGE.name
    saved.write_bytes(FR_PAGE.read_bytes())
    with_title = tmp_path / "piscine.txt"
    with_title.write_text(GOOD_EXTRA, encoding="utf-8")
    before = corpus_state(corpus_dir)
    for args in (["add", saved], ["add", with_title, "--title", "La piscine"], ["add", corpus_dir / "observatoire.txt",
                                                                                 "--title", "L'observatoire"]):
        result = invoke(fake_cli, [*args, *opts])
        assert result.exit_code == 1 and "no space left" in result.stderr
        assert corpus_state(corpus_dir) == before
    monkeypatch.undo()


def test_qa_articles_shows_control_characters_as_escapes(fake_cli, corpus_dir, opts):
    (corpus_dir / "piscine.md").write_text(HOSTILE, encoding="utf-8", newline="")
    result = invoke(fake_cli, ["articles", *opts])
    assert result.exit_code == 0, result.stderr
    assert "piscine.md" in result.stdout and "\x1b" not in result.stdout and "\\x1b" in result.stdout


@pytest.mark.parametrize("since", [["2024"], {"y": 2024}, 2024, 2024.0, True, "0000", "9999-12", "2" * 10_000])
def test_api_refuses_a_bad_date_bound(qa, since, caplog):
    from qa import web, web_html

    with caplog.at_level(logging.WARNING):
        page = web.ask_page(qa, QUESTION, 3, "hybrid", "auto", since, None)
        until = web.ask_page(qa, QUESTION, 3, "hybrid", "auto", None, since)
    for shown in (page, until):
        assert web_html.esc(web.GENERIC_ERROR) not in shown and len(shown) < 2_000
        assert "not a date" in shown or "year must be" in shown
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_cli_refuses_a_year_out_of_range(fake_cli, built):
    for bound in ("0000", "9999-12"):
        result = invoke(fake_cli, ["ask", *built, "--until", bound, QUESTION])
        assert result.exit_code == 2
        [line] = lines_of(result.stderr)
        assert "year must be" in line
