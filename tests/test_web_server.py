"""Serving the page (qa/web_server.py, app.py, `qa serve`): options, login, the port checked first, a real
`qa serve` subprocess. Same tiny corpus and hashing embedder as tests/test_web.py."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import FAKE_MODEL  # noqa: E402
from test_web import CONTRACT_KEYS, CORPUS, FRENCH, check_contract, free_port, make_qa  # noqa: E402

from qa import web_server  # noqa: E402


def test_parse_auth_and_cli_options():
    from click.testing import CliRunner

    from qa.cli import main

    assert web_server.parse_auth("ana:s3c:ret") == ("ana", "s3c:ret")
    assert web_server.parse_auth(None) is None
    result = CliRunner().invoke(main, ["serve", "--auth", "nocolon"])
    assert result.exit_code == 2 and "USER:PASSWORD" in result.output
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "--host" in help_text and "--port" in help_text and "--auth" in help_text and "127.0.0.1" in help_text


def test_login_required_with_auth(tmp_path):
    from gradio_client import Client

    qa = make_qa(tmp_path)
    demo = web_server.serve(qa=qa, port=free_port(), auth=("ana", "s3cret"), block=False, progress=lambda _m: None)
    try:
        url = f"http://127.0.0.1:{demo.server_port}/"
        # gradio_client raises a plain Exception (or a ValueError, by version) when the login is refused
        with pytest.raises(Exception):  # noqa: B017
            Client(url, verbose=False)
        with pytest.raises(Exception):  # noqa: B017
            Client(url, auth=("ana", "wrong"), verbose=False)
        result = Client(url, auth=("ana", "s3cret"), verbose=False).predict(FRENCH, api_name="/ask")
        check_contract(qa, result, FRENCH)
    finally:
        demo.close()


def test_app_py_has_the_options_of_qa_serve():
    import subprocess

    from conftest import ROOT, clean_env

    app_help = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True,
                              env=clean_env(), cwd=ROOT, timeout=60)
    serve_help = subprocess.run([sys.executable, "-m", "qa", "serve", "--help"], capture_output=True, text=True,
                                env=clean_env(), cwd=ROOT, timeout=60)
    assert app_help.returncode == 0 and serve_help.returncode == 0
    assert app_help.stdout.split("Options:")[1] == serve_help.stdout.split("Options:")[1]


def test_qa_serve_in_a_subprocess(tmp_path):
    """`qa serve` as users start it (fake model installed first): it builds the missing index, says so on
    stderr, serves on 127.0.0.1, and its /ask answers with the contract's object."""
    import subprocess
    import time

    from conftest import FAKE_QA_BOOTSTRAP, ROOT, clean_env, write_corpus
    from gradio_client import Client

    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_QA_BOOTSTRAP, "serve", "--port", str(port), "--corpus", str(corpus),
         "--index", str(tmp_path / "index"), "--model", FAKE_MODEL],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(), cwd=ROOT)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "The page is on" in line:
                break
        stderr = "".join(lines)
        assert f"The page is on http://127.0.0.1:{port}/" in stderr, stderr
        assert "Building the index" in stderr
        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(FRENCH, api_name="/ask")
        assert list(result) == CONTRACT_KEYS
        for c in result["citations"]:
            assert c["quote"] == (corpus / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_busy_port_is_reported_before_loading_anything():
    from qa.errors import QAError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(QAError, match="Choose another port"):
            web_server.serve(host="127.0.0.1", port=port, block=False, progress=lambda _m: None)
