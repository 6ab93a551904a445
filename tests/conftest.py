"""Shared fixtures: a deterministic fake embedder, a small made-up corpus, and the real model and seeds index.

Unit tests run on `FakeEmbedder` (hashing, no model, milliseconds). Tests marked `model` use the real
e5-small model and one session-scoped index of seeds/, built once into a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
SEEDS = ROOT / "seeds"
DEV_SET = ROOT / "eval" / "dev.jsonl"
REAL_MODEL = "intfloat/multilingual-e5-small"
FAKE_MODEL = "fake-hash"
# Variables that change what qa does (qa.settings.Settings.from_env): never inherited by a test.
QA_ENVIRONMENT = ("QA_CORPUS", "QA_INDEX", "QA_MODEL", "QA_STORE", "QA_PG_LEXICAL", "QA_INDEX_TYPE", "QA_INDEX_MMAP",
                  "QA_TORCH_THREADS")

# The contract's keys, in its order.
ANSWER_KEYS = ["question", "language", "found", "confidence", "answer", "citations"]
CITATION_KEYS = ["n", "doc", "title", "url", "date", "start", "end", "quote", "score", "lang", "date_inferred"]


# ------------------------------------------------------------------ fake embedder

def _fold(text: str) -> str:
    """Lower case, accents stripped, typographic apostrophes made plain (independent of qa.text on purpose)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


@lru_cache(maxsize=200_000)
def _slot(feature: str) -> tuple[int, float]:
    """A stable (dimension, sign) for a feature: blake2b, never Python's salted hash()."""
    h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return h % FakeEmbedder.dim, 1.0 if (h >> 40) & 1 else -1.0


class FakeEmbedder:
    """Deterministic stand-in for a sentence-transformers model (the `qa.embed.Embedder` protocol).

    Accent-folded word unigrams and character trigrams are hashed (signed) into 64 dimensions and the
    vector is L2-normalized, so texts sharing words or spellings are close and unrelated ones are not.
    """

    name = FAKE_MODEL
    dim = 64

    def __init__(self) -> None:
        self.query_calls: list[list[str]] = []
        self.document_calls: list[list[str]] = []

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", _fold(text)):
            dim, sign = _slot("w:" + word)
            v[dim] += 2.0 * sign
            padded = f"<{word}>"
            for i in range(len(padded) - 2):
                dim, sign = _slot("c:" + padded[i:i + 3])
                v[dim] += sign
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0
            return v
        return (v / norm).astype(np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.array([self._vector(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        self.query_calls.append(texts)
        return self._encode(texts)

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        texts = list(texts)
        self.document_calls.append(texts)
        return self._encode(texts)

    @property
    def documents_embedded(self) -> list[str]:
        return [t for call in self.document_calls for t in call]


def fake_load_embedder(name: str, *args, **kwargs):
    """Stands in for `qa.embed.load_embedder` in CLI tests: the fake for 'fake-hash', the real loader otherwise."""
    if name == FAKE_MODEL:
        return FakeEmbedder()
    from qa import embed

    return embed._REAL_LOAD_EMBEDDER(name, *args, **kwargs)  # type: ignore[attr-defined]


def install_fake_loader(patch=None) -> None:
    """Make every `load_embedder` the project can reach return the fake for 'fake-hash'.

    `patch` is pytest's monkeypatch.setattr (undone after the test); without it (in a subprocess)
    the attributes are set for good.
    """
    import qa.embed
    import qa.service

    if not hasattr(qa.embed, "_REAL_LOAD_EMBEDDER"):
        qa.embed._REAL_LOAD_EMBEDDER = qa.embed.load_embedder  # type: ignore[attr-defined]
    setter = patch or setattr
    for module in (qa.embed, qa.service):
        setter(module, "load_embedder", fake_load_embedder)
    try:  # the web page module, where it exists, imports it too
        import qa.web

        if hasattr(qa.web, "load_embedder"):
            setter(qa.web, "load_embedder", fake_load_embedder)
    except Exception:
        pass


# `python -m qa` in a subprocess, with the fake model installed first.
FAKE_QA_BOOTSTRAP = (
    f"import runpy, sys; sys.path.insert(0, {str(TESTS_DIR)!r}); "
    "import conftest; conftest.install_fake_loader(); "
    "runpy.run_module('qa', run_name='__main__', alter_sys=True)"
)


def clean_env(**extra: str) -> dict:
    """The environment for a subprocess: no QA_* overrides leaking in from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if k not in QA_ENVIRONMENT}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def run_qa(args: list[str], *, fake: bool = True, input: str | None = None, env: dict | None = None,
           cwd: Path | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    """Run `python -m qa ARGS` (with the fake model installed when `fake`) and capture its output."""
    prefix = [sys.executable, "-c", FAKE_QA_BOOTSTRAP] if fake else [sys.executable, "-m", "qa"]
    return subprocess.run(prefix + list(args), input=input, capture_output=True, text=True, encoding="utf-8",
                          env=env or clean_env(), cwd=cwd or ROOT, timeout=timeout)


# ------------------------------------------------------------------ made-up corpus

NBSP = "\u00a0"

# A news page copied to text: banner, Markdown title, byline, photo credit, a paragraph broken in the middle
# of a sentence across a blank line, typographic apostrophes, « » with non-breaking spaces, trailing URL.
ARTICLE_VELO = f"""TEST 15 JOURS

# Lyon étend son réseau de pistes cyclables

Par Jeanne Dupont. Publié le 04 mars 2024 à 10h00

© AFP - JEAN MARTIN

La métropole de Lyon a voté lundi un plan de 120 kilomètres de nouvelles pistes cyclables d’ici 2026. Le budget atteint 45{NBSP}millions d’euros, financé à parts égales par la ville et la région.

Selon l’adjoint aux mobilités, M. Bernard Leroy, «{NBSP}le vélo doit devenir le premier mode de transport des Lyonnais{NBSP}». Les associations d’usagers saluent une décision attendue depuis

longtemps, même si elles réclament davantage de stationnements sécurisés pour les vélos cargos.

Les commerçants de la presqu’île craignent toutefois une baisse de la fréquentation pendant les travaux, qui débuteront en septembre.

<https://www.exemple.fr/lyon/pistes-cyclables-2024>
"""

# Markdown, a section heading, a date-only line, and a comment form footer after the last paragraph.
ARTICLE_CANICULE = """# Canicule : Bordeaux ferme ses écoles plus tôt

Publié le 12 juin 2023

La préfecture de la Gironde a décidé de fermer les écoles maternelles de Bordeaux dès jeudi midi, en raison d’une canicule exceptionnelle. Les températures devraient dépasser 41 degrés vendredi.

## Les parents inquiets

Le Dr. Sophie Marchand, pédiatre au CHU, recommande de faire boire les enfants toutes les heures. Les familles sans solution de garde pourront déposer leurs enfants dans trois gymnases climatisés.

Réagir

Votre email ne sera pas affiché publiquement
Tous les champs sont obligatoires

Merci pour votre commentaire. Il sera visible prochainement.
"""

# No title, no byline, no date: the first line is prose. A rare word (héliostat) for the lexical tests.
ARTICLE_OBSERVATOIRE = """L’observatoire du pic du Midi a installé un héliostat de six mètres pour étudier la couronne solaire. Les astronomes espèrent photographier les éruptions avec une précision inédite.

Le chantier a coûté 2,5 millions d’euros, financés par le CNRS et la région Occitanie. Les premières observations sont prévues à l’automne, selon le directeur, J. Lefèvre.
"""

FAKE_ARTICLES = {
    "velo_lyon.txt": ARTICLE_VELO,
    "canicule_bordeaux.md": ARTICLE_CANICULE,
    "observatoire.txt": ARTICLE_OBSERVATOIRE,
}

# An article outside the made-up corpus: the one added, or that makes the index stale.
ARTICLE_TRAMWAY = """# Marseille ouvre une ligne de tramway

Par Paul Martin. Publié le 10 mai 2024

La ligne T4 reliera le Vieux-Port aux quartiers nord dès l’automne, avec un tramway toutes les six minutes aux heures de pointe.
"""

# Lines that are page furniture in the made-up articles: never inside a paragraph.
FAKE_BOILERPLATE = ["TEST 15 JOURS", "© AFP - JEAN MARTIN", "Réagir", "Votre email ne sera pas affiché publiquement",
                    "Tous les champs sont obligatoires", "Merci pour votre commentaire", "https://www.exemple.fr"]


def write_corpus(folder: Path, articles: dict[str, str] = FAKE_ARTICLES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def make_settings(corpus_dir: Path, index_dir: Path, **changes):
    from qa.settings import Settings

    return Settings(corpus_dir=corpus_dir, index_dir=index_dir, model=FAKE_MODEL, **changes)


@pytest.fixture(autouse=True)
def _no_qa_environment(monkeypatch):
    """QA_* settings from the developer's shell (QA_ENVIRONMENT) must not change what the tests see."""
    for name in QA_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    """The made-up corpus of three French articles, in tmp_path/corpus."""
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def settings(tmp_path, corpus_dir):
    return make_settings(corpus_dir, tmp_path / "index")


@pytest.fixture
def qa(settings, fake_embedder):
    """A QA session over the made-up corpus with the fake model (its index built in tmp_path/index)."""
    from qa.service import QA

    return QA(settings, embedder=fake_embedder)


@pytest.fixture
def fake_cli(monkeypatch):
    """Route the CLI's model loading to the fake; returns click's CliRunner."""
    from click.testing import CliRunner

    install_fake_loader(monkeypatch.setattr)
    return CliRunner()


# ------------------------------------------------------------------ the real model, once per session

@pytest.fixture(scope="session")
def real_embedder():
    from qa.embed import load_embedder
    from qa.errors import ModelError

    try:
        return load_embedder(REAL_MODEL)
    except ModelError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"real model unavailable: {exc}")


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("real") / "index"


@pytest.fixture(scope="session")
def real_settings(real_index_dir):
    from qa.settings import Settings

    return Settings(corpus_dir=SEEDS, index_dir=real_index_dir, model=REAL_MODEL)


@pytest.fixture(scope="session")
def real_qa(real_settings, real_embedder):
    """QA over seeds/ with the real model; its index is built once for the whole session."""
    from qa.service import QA

    return QA(real_settings, embedder=real_embedder)


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 16 with pgvector (PyPI `pgserver`), started for the session, stopped and deleted after it.

    As root, pgserver runs the server as a system user `pgserver` it creates (PostgreSQL refuses to run
    as root), so the data folder lives in a fresh /tmp folder that user can reach, not under pytest's
    private (0700) tmp tree.
    """
    import tempfile

    import pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="qa-pgdata-"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    yield server
    server.cleanup()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the session's server, as a postgresql:// URL."""
    import psycopg

    name = f"qa_test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@/{name}?host={pg_server.pgdata}"


@pytest.fixture(scope="session")
def dev_items(real_qa):
    from qa.evaluate import load_eval_set

    return load_eval_set(DEV_SET, lambda doc: real_qa.index.articles[doc].text if doc in real_qa.index.articles else None)


@pytest.fixture(scope="session")
def dev_answers(real_qa, dev_items):
    """Every dev question answered once (one batched embedding pass), k=10 as `qa eval` does."""
    return real_qa.ask_many([item.question for item in dev_items], k=10)


def read_jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ summary

def pytest_terminal_summary(terminalreporter):
    """Say how many distinct test functions ran, beside pytest's count of items (parametrized cases each count
    as an item, which overstates how much is tested)."""
    reports = [r for key in ("passed", "failed", "error") for r in terminalreporter.stats.get(key, [])
               if getattr(r, "when", "call") == "call" or key == "error"]
    functions = {r.nodeid.split("[", 1)[0] for r in reports}
    if functions:
        files = {f.split("::", 1)[0] for f in functions}
        terminalreporter.write_line(f"{len(reports)} test items ran: {len(functions)} distinct test functions "
                                    f"in {len(files)} files")
