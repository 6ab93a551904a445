"""Concurrency (a Jepsen-like history at this project's scale): many threads ask while articles are added.

The model and index are shared read-only; each answer must be well formed and come from one index
generation (all its citations slices of that generation's texts, and the very answer a lone thread
gets from that generation), whichever generation was current when it started.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import (
    ANSWER_KEYS,
    CITATION_KEYS,
    FakeEmbedder,
    make_settings,
    write_corpus,
)

from qa.build import add_articles
from qa.generation import leftovers
from qa.index import load_index
from qa.lang import detect_language
from qa.records import Answer
from qa.service import QA
from qa.text import terms

THREADS = 8
QUESTIONS_PER_THREAD = 50
SWAPS = 12

QUESTIONS = [
    "Quel instrument l’observatoire du pic du Midi a-t-il installé ?",
    "Combien a coûté le chantier de l’observatoire ?",
    "Quand auront lieu les premières observations ?",
    "Quel est le budget des pistes cyclables à Lyon ?",
    "Pourquoi les écoles de Bordeaux ferment-elles ?",
    "What did the observatory install?",
    "Who recommends that children drink every hour?",
    "héliostat couronne solaire",
    "Quelle est la capitale de l'Australie ?",
    "observatoire CNRS Occitanie millions",
]


def observatory(version: int) -> str:
    """Versions of one article with different words at different offsets, so a mixed answer shows."""
    filler = "Selon le directeur, " * (version % 4)
    return (f"{filler}L’observatoire du pic du Midi a installé un héliostat de {version + 2} mètres pour étudier la "
            f"couronne solaire (version {version}). Les astronomes espèrent photographier les éruptions.\n\n"
            f"Le chantier a coûté {version + 1},5 millions d’euros, financés par le CNRS et la région Occitanie. "
            f"Les premières observations sont prévues {'au printemps' if version % 2 else 'à l’automne'}.\n")


@pytest.fixture
def shared(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    (corpus / "observatoire.txt").write_text(observatory(0), encoding="utf-8")
    settings = make_settings(corpus, tmp_path / "index")
    embedder = FakeEmbedder()
    return QA(settings, embedder=embedder), settings, embedder


@pytest.fixture
def fast_switching():
    """Switch threads every 10 µs instead of 5 ms, so interleavings that a slow machine would produce happen here."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def well_formed(answer: Answer) -> None:
    record = answer.to_json()
    assert list(record) == ANSWER_KEYS
    for n, citation in enumerate(record["citations"], start=1):
        assert list(citation) == CITATION_KEYS and citation["n"] == n


def from_generation(answer: Answer, index) -> bool:
    return all(c.doc in index.articles and index.articles[c.doc].text[c.start:c.end] == c.quote for c in answer.citations)


def test_threads_ask_while_articles_are_added_and_the_index_swapped(shared, fast_switching):
    qa, settings, embedder = shared
    generations = {qa.index.manifest["generation"]: qa.index}
    done = threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            for version in range(1, SWAPS + 1):
                path = settings.corpus_dir / "observatoire.txt"
                path.write_text(observatory(version), encoding="utf-8")
                new = add_articles([path], settings, embedder)
                generations[new.manifest["generation"]] = new
                qa.index = new  # what the page does after `qa add`: one reference swap
                # Then flip between the generations so far as fast as possible: thousands of swaps,
                # so a question answered from two generations would not go unseen.
                known = list(generations.values())
                for flip in range(2000):
                    qa.index = known[flip % len(known)]
                qa.index = new
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader(thread: int) -> list[tuple[str, Answer]]:
        out = []
        for i in range(QUESTIONS_PER_THREAD):
            question = QUESTIONS[(thread + i) % len(QUESTIONS)]
            if i % 10 == 9:  # a batch now and then, through ask_many
                for q, a in zip([question, QUESTIONS[0]], qa.ask_many([question, QUESTIONS[0]])):
                    out.append((q, a))
            else:
                out.append((question, qa.ask(question)))
        return out

    writer_thread = threading.Thread(target=writer)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(reader, t) for t in range(THREADS)]
        writer_thread.start()
        results = [item for f in futures for item in f.result()]
    writer_thread.join()
    assert done.is_set() and not errors, errors
    assert len(generations) == SWAPS + 1
    assert len(results) >= THREADS * QUESTIONS_PER_THREAD

    # Each answer: well formed, and exactly what a lone thread gets from one of the generations.
    lone = {gen: QA(settings, embedder=embedder, index=index) for gen, index in generations.items()}
    expected: dict[tuple[str, str], dict] = {}
    used = set()
    for question, answer in results:
        assert isinstance(answer, Answer)
        well_formed(answer)
        matches = []
        for gen, index in generations.items():
            if not from_generation(answer, index):
                continue
            key = (gen, question)
            if key not in expected:
                expected[key] = lone[gen].ask(question).to_json()
            if expected[key] == answer.to_json():
                matches.append(gen)
        assert matches, f"an answer to {question!r} is from no single generation: {answer.to_json()}"
        used.update(matches)
    assert len(used) > 1, "the swaps happened after every answer: the test did not overlap them"
    assert leftovers(settings.index_dir) == []


def test_readers_of_the_disk_never_see_a_torn_index(shared, fast_switching):
    """load_index in a loop from 4 threads while another writes generation after generation to disk."""
    _qa, settings, embedder = shared
    written = {load_index(settings.index_dir).manifest["generation"]}
    stop = threading.Event()
    problems: list[str] = []
    loads = [0]

    def writer():
        try:
            for version in range(1, 11):
                path = settings.corpus_dir / "observatoire.txt"
                path.write_text(observatory(version), encoding="utf-8")
                written.add(add_articles([path], settings, embedder).manifest["generation"])
        finally:
            stop.set()

    def reader():
        while not stop.is_set():
            try:
                index = load_index(settings.index_dir, settings, embedder.name)
            except Exception as exc:
                problems.append(f"{exc.__class__.__name__}: {exc}")
                continue
            loads[0] += 1
            for p in index.passages:
                if p.text != index.articles[p.doc].text[p.start:p.end]:
                    problems.append(f"torn: passage {p.id} of {p.doc}")
            if not len(index.passages) == index.dense.ntotal == index.manifest["n_passages"]:
                problems.append("torn: counts differ")
            if index.manifest["generation"] not in written and index.manifest["generation"] is not None:
                written.add(index.manifest["generation"])  # written by the writer, just not recorded yet

    threads = [threading.Thread(target=reader) for _ in range(4)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not problems, problems[:5]
    assert loads[0] > 0
    assert leftovers(settings.index_dir) == []


def test_concurrent_additions_lose_nothing(shared):
    """Two `qa add` at once: the writer lock makes them take turns, so the index ends with both articles."""
    _qa, settings, embedder = shared
    incoming = settings.corpus_dir.parent / "incoming"
    incoming.mkdir()
    files = []
    for n in range(4):
        path = incoming / f"nouveau_{n}.txt"
        path.write_text(f"La commune numéro {n} a ouvert une crèche de {20 + n} places, selon la mairie, mardi matin.\n",
                        encoding="utf-8")
        files.append(path)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda f: add_articles([f], settings, embedder), files))
    final = load_index(settings.index_dir, settings, embedder.name)
    assert {f"nouveau_{n}.txt" for n in range(4)} <= set(final.articles)
    assert len(final.articles) == 7
    assert leftovers(settings.index_dir) == []


def test_language_detection_and_stemming_are_thread_safe(fast_switching):
    texts = [q for q in QUESTIONS] + ["data hosting duration", "hebergement donnees sante", "CNIL Azure ?",
                                      "Qui a déposé un recours devant le Conseil d’État ?"]
    expected = [(detect_language(t), terms(t)) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            got = list(pool.map(lambda t: (detect_language(t), terms(t)), texts * 8))
            assert got == expected * 8


def test_faiss_uses_one_thread_per_search(shared, monkeypatch):
    import faiss

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    _qa, settings, _embedder = shared
    load_index(settings.index_dir)
    assert faiss.omp_get_max_threads() == 1
