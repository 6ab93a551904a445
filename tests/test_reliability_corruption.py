"""Corruption test: every index file truncated, bit-flipped, emptied or deleted, damage re-signed in the
manifest (so only the loader's own checks can catch it), and manifests from another model, format or
normalization. Each is reported in one line by `qa index --check` (exit 1), rebuilt by `qa ask` when the
corpus is there (saying so on stderr), refused in one line when it is not: never a traceback, never an
answer from a damaged index. (tests/test_index.py covers the same damage at the API level.)
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from conftest import FAKE_MODEL, read_jsonl

from qa.cli import main
from qa.generation import MANIFEST

QUESTION = "Quel est le budget des pistes cyclables à Lyon ?"
DATA_FILES = ["articles.jsonl", "passages.jsonl", "embeddings.npy", "dense.faiss", "sentences.npy", "sentence_spans.npy",
              "hubness.npy", "bm25/*", MANIFEST]


def invoke(runner, args, input=None):
    return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def resolve(index_dir, rel):
    return sorted((index_dir / "bm25").iterdir())[0] if rel == "bm25/*" else index_dir / rel


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bit(path):
    """One bit flipped a third of the way in; in the manifest, in its first file checksum (a flip in its build time
    or generation id changes nothing qa reads, and where a third of the way falls depends on the manifest's length)."""
    data = bytearray(path.read_bytes())
    at = data.index(b'"files"') + data[data.index(b'"files"'):].index(b': "', 8) + 10 if path.name == MANIFEST else len(data) // 3
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def zero_bytes(path):
    path.write_bytes(b"")


def delete(path):
    path.unlink()


def read_manifest(index_dir) -> dict:
    return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(index_dir, manifest):
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def resign(index_dir, rel):
    """Update the manifest's checksum of a damaged file, as a buggy writer or a careless hand would."""
    manifest = read_manifest(index_dir)
    manifest["files"][rel] = hashlib.sha256((index_dir / rel).read_bytes()).hexdigest()
    write_manifest(index_dir, manifest)


def rewrite_jsonl(index_dir, rel, change):
    path = index_dir / rel
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(line + "\n" for line in change(records)), encoding="utf-8")
    resign(index_dir, rel)


def edit_manifest(index_dir, change):
    manifest = read_manifest(index_dir)
    change(manifest)
    write_manifest(index_dir, manifest)


def shifted(records, **delta):
    out = [dict(r) for r in records]
    for key, value in delta.items():
        out[0][key] = value
    return [json.dumps(r, ensure_ascii=False) for r in out]


def save_npy(index_dir, rel, array):
    np.save(index_dir / rel, array)
    resign(index_dir, rel)


RESIGNED = {
    "passages.jsonl garbage JSON": lambda d: ((d / "passages.jsonl").write_text('{"id": 0, "doc": \n{{{ not json\n', encoding="utf-8"), resign(d, "passages.jsonl")),
    "passages.jsonl a list per line": lambda d: rewrite_jsonl(d, "passages.jsonl", lambda rs: ["[1, 2, 3]" for _ in rs]),
    "passages.jsonl offset past the text": lambda d: rewrite_jsonl(d, "passages.jsonl", lambda rs: shifted(rs, end=10**6)),
    "passages.jsonl negative offset": lambda d: rewrite_jsonl(d, "passages.jsonl", lambda rs: shifted(rs, start=-5)),
    "passages.jsonl offset as text": lambda d: rewrite_jsonl(d, "passages.jsonl", lambda rs: shifted(rs, start="0")),
    "passages.jsonl unknown article": lambda d: rewrite_jsonl(d, "passages.jsonl", lambda rs: shifted(rs, doc="absent.txt")),
    "passages.jsonl extra field": lambda d: rewrite_jsonl(d, "passages.jsonl", lambda rs: shifted(rs, evil=1)),
    "passages.jsonl a passage missing": lambda d: rewrite_jsonl(d, "passages.jsonl", lambda rs: [json.dumps(r, ensure_ascii=False) for r in rs[1:]]),
    "articles.jsonl garbage JSON": lambda d: ((d / "articles.jsonl").write_text("\x00\xff garbage\n", encoding="utf-8"), resign(d, "articles.jsonl")),
    "articles.jsonl paragraph past the text": lambda d: rewrite_jsonl(d, "articles.jsonl", lambda rs: shifted(rs, paragraphs=[[0, 10**6]])),
    "embeddings.npy other dimension": lambda d: save_npy(d, "embeddings.npy", np.zeros((9, 32), np.float32)),
    "embeddings.npy fewer rows": lambda d: save_npy(d, "embeddings.npy", np.load(d / "embeddings.npy")[:-1]),
    "embeddings.npy pickled object": lambda d: save_npy(d, "embeddings.npy", np.array([{"a": 1}], dtype=object)),
    "sentences.npy other shape": lambda d: save_npy(d, "sentences.npy", np.zeros((3, 64), np.float32)),
    "sentence_spans.npy not a table": lambda d: save_npy(d, "sentence_spans.npy", np.zeros(5, np.int64)),
    "dense.faiss garbage": lambda d: ((d / "dense.faiss").write_bytes(b"IxF2" + b"\x00" * 10), resign(d, "dense.faiss")),
    "bm25 file garbage": lambda d: ((d / "bm25" / "params.index.json").write_text("{oops", encoding="utf-8"), resign(d, "bm25/params.index.json")),
}
MANIFESTS = {
    "another model": lambda m: m.update(model="another-model", params={**m["params"], "model": "another-model"}),
    "another format version": lambda m: m.update(format_version=99),
    "another format": lambda m: m.update(format="something-else"),
    "another normalization": lambda m: m.update(params={**m["params"], "normalization": 1}),
    "an older manifest without normalization": lambda m: m["params"].pop("normalization"),
    "other chunking settings": lambda m: m.update(params={**m["params"], "passage_max_chars": 123}),
    "built by another version of the ingestion code": lambda m: m.update(ingestion="0" * 16),
    "an older manifest without the ingestion digest": lambda m: m.pop("ingestion"),
    "files not a mapping": lambda m: m.update(files=["articles.jsonl"]),
    "files without passages.jsonl": lambda m: m["files"].pop("passages.jsonl"),
    "files without a bm25 file": lambda m: m["files"].pop(next(k for k in m["files"] if k.startswith("bm25/"))),
    "files entry escaping the folder": lambda m: m["files"].update({"../../etc/passwd": "0" * 64}),
    "params not a mapping": lambda m: m.update(params="x"),
    "sources not a mapping": lambda m: m.update(sources=None),
    "wrong passage count": lambda m: m.update(n_passages=m["n_passages"] + 1),
    "wrong article count": lambda m: m.update(n_articles=7),
    "a JSON list": lambda m: (m.clear(), m.update({"0": [1, 2]})),
    "deeply nested": None,
}


def _deep(index_dir):
    (index_dir / MANIFEST).write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")


CASES = [(f"{rel} {damage.__name__}", lambda d, rel=rel, damage=damage: damage(resolve(d, rel)))
         for rel in DATA_FILES for damage in (truncate, flip_bit, zero_bytes, delete)]
CASES += [(f"re-signed {name}", damage) for name, damage in RESIGNED.items()]
CASES += [(f"manifest: {name}", (lambda d, change=change: edit_manifest(d, change)) if change else _deep)
          for name, change in MANIFESTS.items()]


@pytest.fixture
def opts(corpus_dir, tmp_path):
    return ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--model", FAKE_MODEL]


@pytest.fixture
def damaged(fake_cli, opts, tmp_path, request):
    assert invoke(fake_cli, ["index", *opts]).exit_code == 0
    _name, damage = request.param
    damage(tmp_path / "index")
    return tmp_path / "index"


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("damaged", CASES, ids=[name for name, _ in CASES], indirect=True)
def test_check_reports_the_damage_in_one_line(fake_cli, opts, damaged):
    result = invoke(fake_cli, ["index", "--check", *opts])
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert line.startswith("qa: error: ") and ("corrupt" in line or "stale" in line or "inconsistent" in line
                                               or "format" in line or "no index" in line), line
    assert result.stdout == ""


@pytest.mark.parametrize("damaged", CASES, ids=[name for name, _ in CASES], indirect=True)
def test_ask_rebuilds_a_damaged_index_from_the_corpus(fake_cli, opts, corpus_dir, damaged):
    result = invoke(fake_cli, ["ask", "--json", *opts, QUESTION])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Building the index" in result.stderr
    [answer] = read_jsonl(result.stdout)
    assert answer["citations"]
    for c in answer["citations"]:
        assert c["quote"] == (corpus_dir / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]
    healthy = invoke(fake_cli, ["index", "--check", *opts])
    assert healthy.exit_code == 0 and "healthy" in healthy.stdout


@pytest.mark.parametrize("damaged", CASES, ids=[name for name, _ in CASES], indirect=True)
def test_ask_without_the_corpus_refuses_in_one_line(fake_cli, opts, tmp_path, damaged):
    opts = [o if o != opts[1] else str(tmp_path / "no-corpus") for o in opts]
    result = invoke(fake_cli, ["ask", "--json", *opts, QUESTION])
    assert result.exit_code in (1, 2)
    one_line(result.stderr)
    assert result.stdout == ""  # no answer at all rather than one from a damaged index
