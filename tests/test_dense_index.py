"""The dense index structure: chosen by corpus size or by the user, tuned to a measured recall, recorded, memory-mapped.

Thresholds are set tiny so that IVF and HNSW are built on a few thousand made-up vectors in
milliseconds; the million-passage numbers live in bench/ (`--only scale,memory --full`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FAKE_MODEL, run_qa

from qa import build as build_module
from qa.build import build_index
from qa.dense import build_dense, dense_kind
from qa.errors import IndexStateError, InputError
from qa.generation import MANIFEST
from qa.index import index_problem, load_index
from qa.settings import Settings


def clustered(n: int, dim: int = 32, centres: int = 40, seed: int = 1) -> np.ndarray:
    """Unit vectors around a few centres: structured like text embeddings, so an approximate index can work."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall_against_exact(index, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :k]
    _, found = index.search(queries, k)
    return float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found)]))


@pytest.mark.parametrize("n, index_type, threshold, expected", [
    (100, "auto", 250_000, "flat"),
    (250_000, "auto", 250_000, "flat"),
    (250_001, "auto", 250_000, "ivf"),
    (10, "auto", 5, "ivf"),
    (10_000_000, "flat", 5, "flat"),
    (10, "hnsw", 250_000, "hnsw"),
])
def test_dense_kind_by_size_or_override(n, index_type, threshold, expected):
    assert dense_kind(Settings(index_type=index_type, flat_max_passages=threshold), n) == expected


def test_unknown_index_type_is_an_input_error():
    with pytest.raises(InputError, match="unknown index type"):
        Settings(index_type="pq")


def test_auto_builds_ivf_above_the_threshold_with_measured_recall():
    vectors, queries = np.split(clustered(4300), [4000])
    dense, info = build_dense(vectors, Settings(flat_max_passages=1000))
    assert type(dense).__name__ == "IndexIVFFlat"
    assert info["type"] == "ivf" and info["nlist"] == dense.nlist == 4000 // 39  # 39 training points a list at least
    assert dense.nprobe == info["nprobe"] <= dense.nlist // 4
    assert info["recall_at_10"] >= 0.95
    assert info["recall_probes"] == "passages"
    # Checked independently, on queries from the same distribution that the build never saw.
    assert recall_against_exact(dense, vectors, queries) >= 0.93


def test_ivf_tuned_on_given_queries_reaches_the_target_on_them():
    """Probe queries farther from the passages than passages are from each other need a wider search."""
    vectors = clustered(4000)
    rng = np.random.default_rng(5)
    far = vectors[rng.integers(0, 4000, 300)] + 0.25 * rng.normal(size=(300, 32)).astype(np.float32)
    far /= np.linalg.norm(far, axis=1, keepdims=True)
    easy, _ = build_dense(vectors, Settings(index_type="ivf"))
    dense, info = build_dense(vectors, Settings(index_type="ivf"), queries=far[:200])
    assert info["recall_probes"] == "passage sentences (query side)" and info["recall_at_10"] >= 0.95
    assert dense.nprobe >= easy.nprobe
    assert recall_against_exact(dense, vectors, far[200:]) >= 0.92


def test_auto_stays_exact_below_the_threshold():
    dense, info = build_dense(clustered(500), Settings(flat_max_passages=1000))
    assert type(dense).__name__ == "IndexFlatIP" and info["type"] == "flat" and "fallback" not in info


def test_forced_hnsw_reaches_the_recall_target():
    vectors, queries = np.split(clustered(3300), [3000])
    dense, info = build_dense(vectors, Settings(index_type="hnsw"))
    assert type(dense).__name__ == "IndexHNSWFlat"
    assert info["type"] == "hnsw" and dense.hnsw.efSearch == info["efSearch"] and info["recall_at_10"] >= 0.95
    assert recall_against_exact(dense, vectors, queries) >= 0.93


def test_unstructured_vectors_fall_back_to_exact_search():
    """Random 64-d vectors have no clusters: IVF would have to scan most lists, so exact search is kept."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(4000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    messages = []
    dense, info = build_dense(vectors, Settings(index_type="ivf"), progress=messages.append)
    assert type(dense).__name__ == "IndexFlatIP"
    assert info["type"] == "flat" and info["fallback"].startswith("ivf")
    assert any("using exact search" in m for m in messages)


@pytest.fixture
def ivf_settings(settings):
    """The made-up corpus with IVF forced from the first passage on."""
    return settings.with_(flat_max_passages=0)


def test_forced_ivf_is_built_recorded_and_loaded(ivf_settings, fake_embedder):
    built = build_index(ivf_settings, fake_embedder)
    manifest = json.loads((ivf_settings.index_dir / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["dense"]["type"] == "ivf" and manifest["dense"]["requested"] == "auto"
    assert manifest["dense"]["flat_max_passages"] == 0
    loaded = load_index(ivf_settings.index_dir, ivf_settings, FAKE_MODEL)
    assert type(loaded.dense).__name__ == "IndexIVFFlat"
    assert loaded.dense.nprobe == manifest["dense"]["nprobe"]
    assert index_problem(ivf_settings.index_dir, ivf_settings, FAKE_MODEL) is None
    # Same passages found as by exact search over the same vectors.
    query = fake_embedder.encode_queries(["pistes cyclables à Lyon"])
    exact = np.argsort(-(built.embeddings @ query[0]))[:5]
    _, found = loaded.dense.search(query, 5)
    assert list(found[0]) == list(exact)


def test_the_build_tunes_the_dense_index_on_the_passages_sentences(ivf_settings, fake_embedder, monkeypatch):
    """write_index's recall probes are the sentences' query-side vectors (question-like text)."""
    probes = []

    def spy(embeddings, settings, progress, queries=None, **kwargs):
        probes.append(queries)
        return build_dense(embeddings, settings, progress, queries=queries, **kwargs)

    monkeypatch.setattr(build_module, "build_dense", spy)
    built = build_index(ivf_settings, fake_embedder)
    [queries] = probes
    assert queries is not None and len(queries) == len(built.sentences.owner) > 0
    assert np.array_equal(queries, built.sentences.vectors)


def test_changing_the_index_type_makes_the_index_stale(ivf_settings, fake_embedder):
    build_index(ivf_settings, fake_embedder)
    problem = index_problem(ivf_settings.index_dir, ivf_settings.with_(index_type="flat"), FAKE_MODEL)
    assert problem and "holds a ivf dense index" in problem and "index_type=flat" in problem
    # The default threshold asks for exact search on three articles: stale too.
    default = ivf_settings.with_(flat_max_passages=250_000)
    assert "asks for flat" in index_problem(default.index_dir, default, FAKE_MODEL)
    # Asking for IVF explicitly is what was built.
    assert index_problem(ivf_settings.index_dir, ivf_settings.with_(index_type="ivf"), FAKE_MODEL) is None


def test_an_index_without_a_dense_description_is_exact_search(settings, fake_embedder):
    """Indexes written before the structure was recorded hold IndexFlatIP and stay usable."""
    build_index(settings, fake_embedder)
    path = settings.index_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["dense"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert index_problem(settings.index_dir, settings, FAKE_MODEL) is None
    assert type(load_index(settings.index_dir, settings, FAKE_MODEL).dense).__name__ == "IndexFlatIP"


def test_a_dense_file_that_contradicts_the_manifest_is_refused(settings, fake_embedder):
    build_index(settings, fake_embedder)
    path = settings.index_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["dense"]["type"] = "hnsw"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError, match="dense.faiss is a IndexFlatIP, the manifest says hnsw"):
        load_index(settings.index_dir, settings, FAKE_MODEL)


@pytest.mark.parametrize("index_type", ["flat", "ivf"])
def test_memory_mapped_and_read_indexes_answer_alike(settings, fake_embedder, index_type):
    settings = settings.with_(index_type=index_type)
    build_index(settings, fake_embedder)
    mapped = load_index(settings.index_dir, settings, FAKE_MODEL)
    read = load_index(settings.index_dir, settings.with_(index_mmap=False), FAKE_MODEL)
    assert isinstance(mapped.embeddings, np.memmap) and not isinstance(read.embeddings, np.memmap)
    query = fake_embedder.encode_queries(["budget des pistes cyclables"])
    assert np.array_equal(mapped.dense.search(query, 10)[1], read.dense.search(query, 10)[1])
    assert np.array_equal(np.asarray(mapped.embeddings), read.embeddings)


def test_memory_mapped_index_survives_a_rebuild_swap(settings, fake_embedder, corpus_dir):
    """A mapping outlives its folder: a reader keeps answering while `qa index --force` swaps a new generation in."""
    build_index(settings, fake_embedder)
    mapped = load_index(settings.index_dir, settings, FAKE_MODEL)
    query = fake_embedder.encode_queries(["canicule à Bordeaux"])
    before = mapped.dense.search(query, 5)[1].copy()
    build_index(settings, fake_embedder)  # the old generation's folder is renamed, then deleted
    assert np.array_equal(mapped.dense.search(query, 5)[1], before)
    assert float(mapped.embeddings[int(before[0][0])] @ query[0]) > 0


def test_cli_index_type_option(paths):
    result = run_qa(["index", *paths["opts"], "--index-type", "hnsw"])
    assert result.returncode == 0, result.stderr
    manifest = json.loads((paths["index"] / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["dense"]["type"] == "hnsw" and manifest["dense"]["requested"] == "hnsw"
    check = run_qa(["index", *paths["opts"], "--index-type", "hnsw", "--check"])
    assert check.returncode == 0 and "HNSW dense index (M 32, efSearch" in check.stdout
    stale = run_qa(["index", *paths["opts"], "--index-type", "flat", "--check"])
    assert stale.returncode == 1 and "index_type=flat" in stale.stderr
    rebuilt = run_qa(["index", *paths["opts"], "--index-type", "flat"])
    assert rebuilt.returncode == 0 and "asks for flat" in rebuilt.stderr
    assert json.loads((paths["index"] / MANIFEST).read_text(encoding="utf-8"))["dense"]["type"] == "flat"
    bad = run_qa(["index", *paths["opts"], "--index-type", "pq"])
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.fixture
def paths(tmp_path, corpus_dir):
    index_dir = tmp_path / "index"
    return {"corpus": corpus_dir, "index": index_dir,
            "opts": ["--corpus", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL]}


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("QA_INDEX_TYPE", "ivf")
    monkeypatch.setenv("QA_INDEX_MMAP", "0")
    monkeypatch.setenv("QA_TORCH_THREADS", "1")
    s = Settings.from_env()
    assert (s.index_type, s.index_mmap, s.torch_threads) == ("ivf", False, 1)
    monkeypatch.setenv("QA_TORCH_THREADS", "two")
    with pytest.raises(InputError, match="QA_TORCH_THREADS"):
        Settings.from_env()

