"""The dense search structure over the passage vectors (dense.faiss): exact search, IVF or HNSW, chosen by
corpus size or by hand, its search breadth tuned at build time to a measured recall, opened memory-mapped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .records import Progress, quiet
from .settings import Settings


def dense_kind(settings: Settings, n_passages: int) -> str:
    """The dense structure the settings ask for at this corpus size: the override, or by size for "auto".

    Exact search up to `flat_max_passages` (250k: where Flat's linear cost nears the query budget,
    bench/README.md), IVF above: on 1M e5-like vectors, as built here, it answered the dev questions
    with recall@10 0.994 in 6.6 ms, against 113 ms for Flat. HNSW is there to be chosen by hand; it
    lost to IVF on every measured size here.
    """
    if settings.index_type != "auto":
        return settings.index_type
    return "flat" if n_passages <= settings.flat_max_passages else "ivf"


def build_dense(embeddings: np.ndarray, settings: Settings, progress: Progress = quiet, seed: int = 0,
                queries: np.ndarray | None = None):
    """(FAISS index, description for the manifest) over unit vectors, inner product.

    An approximate index is tuned at build time on the corpus's own vectors: its search breadth
    (IVF nprobe, HNSW efSearch) is the smallest in a x1.5 sweep whose recall@10 against exact search
    reaches `index_target_recall` on up to 200 probe queries. The probes are `queries` when given —
    write_index passes the passages' sentences embedded as queries (qa.sentences), question-like
    text — else passages (each one's own row left out). Passages are too easy: on e5-like vectors
    they reached recall 0.998 at an nprobe where the dev questions got 0.82 (bench/README.md; the
    corpus's single words, the probes before index format 4, were harder than questions). When no
    breadth gets there below a quarter of the lists, IVF saves nothing over exact search: exact
    search is built instead and the manifest says why.
    """
    import faiss

    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    n, dim = vectors.shape
    wanted = dense_kind(settings, n)
    info: dict = {"type": "flat", "requested": settings.index_type, "flat_max_passages": settings.flat_max_passages}
    if wanted == "flat" or n < 2:
        dense = faiss.IndexFlatIP(dim)
        dense.add(vectors)
        return dense, info
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    if queries is not None and len(queries) >= 20:
        probe_vectors = np.ascontiguousarray(queries[rng.choice(len(queries), size=min(200, len(queries)), replace=False)], dtype=np.float32)
        own = np.full(len(probe_vectors), -2)  # no probe is a row of the index
        probe_kind = "passage sentences (query side)"
    else:
        own = rng.choice(n, size=min(200, n), replace=False)
        probe_vectors = vectors[own]
        probe_kind = "passages"
    truth = _exact_neighbours(vectors, probe_vectors, own, 10)
    if wanted == "ivf":
        # nlist = 4·sqrt(N) (bench/README.md), but at least 39 training points per list, as k-means needs.
        nlist = max(1, min(round(4 * n ** 0.5), n // 39))
        sample = vectors[rng.choice(n, size=min(n, 40 * nlist), replace=False)] if n > 40 * nlist else vectors
        progress(f"Training an IVF index ({nlist} lists) on {len(sample):,} of {n:,} vectors")
        dense = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        dense.cp.niter = 20
        dense.cp.seed = seed
        dense.cp.min_points_per_centroid = min(39, len(sample) // nlist)  # no warning for a tiny forced IVF
        dense.train(sample)
        dense.add(vectors)
        knob, limit = "nprobe", max(1, nlist // 4)
        values = _sweep(max(1, min(16, nlist // 32)), limit)  # beyond a quarter of the lists, exact search wins
        info.update(nlist=nlist)
    else:
        dense = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        dense.hnsw.efConstruction = 80
        progress(f"Building an HNSW graph over {n:,} vectors")
        dense.add(vectors)
        values = _sweep(16, max(16, min(4096, n)))
        knob, limit = "efSearch", max(16, min(4096, n))
        info.update(M=32)
    chosen = None
    for value in values:
        _set_breadth(dense, knob, value)
        recall = _recall(dense, probe_vectors, own, truth, 10)
        if recall >= settings.index_target_recall:
            chosen = (value, recall)
            break
    if chosen is None or chosen[0] > limit:
        progress(f"warning: {wanted.upper()} does not reach recall@10 {settings.index_target_recall} on these vectors "
                 f"without searching most of them; using exact search")
        flat = faiss.IndexFlatIP(dim)
        flat.add(vectors)
        info.update(type="flat", fallback=f"{wanted} recall@10 below {settings.index_target_recall} at {knob} <= {limit}")
        for key in ("nlist", "M"):
            info.pop(key, None)
        return flat, info
    _set_breadth(dense, knob, chosen[0])
    info.update(type=wanted, **{knob: chosen[0]}, recall_at_10=round(chosen[1], 4), recall_queries=len(own), recall_probes=probe_kind,
                build_seconds=round(time.perf_counter() - started, 2))
    progress(f"{wanted.upper()} index: {knob} {chosen[0]}, measured recall@10 {chosen[1]:.3f} against exact search")
    return dense, info


def _sweep(first: int, last: int) -> list[int]:
    """first, then x1.5 steps (rounded up), up to and including last."""
    values, value = [], max(1, first)
    while value < last:
        values.append(value)
        value = max(value + 1, int(np.ceil(value * 1.5)))
    return values + [last]


def _set_breadth(dense, knob: str, value: int) -> None:
    if knob == "nprobe":
        dense.nprobe = int(value)
    else:
        dense.hnsw.efSearch = int(value)


def _exact_neighbours(vectors: np.ndarray, queries: np.ndarray, own: np.ndarray, k: int) -> list[set[int]]:
    """The k nearest rows of each query by exact inner product, its own row (if it is one) left out."""
    import faiss

    found = np.full((len(queries), k + 1), -1, dtype=np.int64)
    scores = np.full((len(queries), k + 1), -np.inf, dtype=np.float32)
    step = 65_536  # blocks, so the score matrix stays small at a million rows
    for start in range(0, len(vectors), step):
        block = vectors[start:start + step]
        s, i = faiss.knn(queries, block, min(k + 1, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
        merged_s = np.hstack([scores, s])
        merged_i = np.hstack([found, i + start])
        top = np.argsort(-merged_s, axis=1, kind="stable")[:, :k + 1]
        scores = np.take_along_axis(merged_s, top, 1)
        found = np.take_along_axis(merged_i, top, 1)
    return [_first_k(row, p, k) for row, p in zip(found, own)]


def _first_k(row, own: int, k: int) -> set[int]:
    """The first k ids of a ranking, without `own` (a probe is its own nearest passage) or FAISS's -1 fillers."""
    return set([int(j) for j in row if j != own and j >= 0][:k])


def _recall(dense, queries: np.ndarray, own: np.ndarray, truth: list[set[int]], k: int) -> float:
    _, found = dense.search(queries, k + 1)
    hits = sum(len(_first_k(row, p, k) & t) for row, p, t in zip(found, own, truth))
    return hits / max(1, sum(len(t) for t in truth))


def dense_problem(manifest: dict, settings: Settings) -> str | None:
    """Why the stored dense structure is not what the settings ask for at its size (None when it is).

    An index written before the structure was recorded holds exact search. A build that fell back
    to exact search because the approximate one missed the recall target counts as what was asked.
    """
    dense = manifest.get("dense", {"type": "flat"})
    n = manifest.get("n_passages")
    if not isinstance(dense, dict) or not isinstance(n, int):
        return "is corrupt: its manifest lacks its dense index description"
    wanted = dense_kind(settings, n)
    built = dense.get("type")
    if wanted == built or str(dense.get("fallback", "")).split(" ")[0] == wanted:
        return None
    return (f"holds a {built} dense index, but index_type={settings.index_type} asks for {wanted} at "
            f"{n:,} passages (exact search up to {settings.flat_max_passages:,})")


def open_vectors(index_dir: Path, manifest: dict, mmap: bool):
    """embeddings.npy and dense.faiss, memory-mapped when asked, with the search breadth the build measured.

    Memory-mapped, the vectors live once in the OS page cache (shared between processes serving the
    same index, and evictable) instead of in each process's heap: FAISS maps Flat codes, IVF lists
    and HNSW storage with IO_FLAG_MMAP_IFC (checked for faiss 1.15 in bench/run.py, `--only memory`),
    and only the rows the answer step scores are read from embeddings.npy. The files are read-only
    once written (a new generation is a new folder), and a mapping outlives the folder's swap.
    """
    import faiss

    embeddings = np.load(index_dir / "embeddings.npy", allow_pickle=False, mmap_mode="r" if mmap else None)
    flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | getattr(faiss, "IO_FLAG_READ_ONLY", 0) if mmap else 0
    dense = faiss.read_index(str(index_dir / "dense.faiss"), flags)
    info = manifest.get("dense", {"type": "flat"})
    if not isinstance(info, dict):
        raise ValueError("the manifest's dense index description is not an object")
    expected = {"flat": "IndexFlat", "ivf": "IndexIVF", "hnsw": "IndexHNSW"}.get(info.get("type"))
    if expected is None or not type(dense).__name__.startswith(expected):
        raise ValueError(f"dense.faiss is a {type(dense).__name__}, the manifest says {str(info.get('type'))[:20]}")
    if info.get("type") == "ivf" and isinstance(info.get("nprobe"), int):
        dense.nprobe = info["nprobe"]
    if info.get("type") == "hnsw" and isinstance(info.get("efSearch"), int):
        dense.hnsw.efSearch = info["efSearch"]
    return embeddings, dense


def limit_threads(faiss, threads: int) -> None:
    """FAISS threads per search (1 by default: requests run in parallel threads already, on a 2-core machine).

    This sets OpenMP's count for the calling thread, which torch reads too; the embedder therefore
    sets its own count before each forward pass (qa.embed._Threads).
    """
    if os.environ.get("OMP_NUM_THREADS") is None:
        faiss.omp_set_num_threads(threads)
