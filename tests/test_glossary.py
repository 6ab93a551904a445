"""qa.glossary: the FreeDict conversion, the shipped English → French file, and lookups by English stem."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from qa.glossary import (
    _B64,
    COMMON_WORDS_PATH,
    GLOSSARY_PATH,
    english_key,
    glossary_lines,
    load_glossary,
    main,
    read_dictd,
    translations,
)


def _b64(number: int) -> str:
    digits = ""
    while True:
        digits = _B64[number % 64] + digits
        number //= 64
        if not number:
            return digits


def write_dictd(folder: Path, name: str, entries: dict[str, str]) -> None:
    """A dictd dictionary in FreeDict's layout: gzip'd bodies, an index of base-64 offsets and lengths."""
    data, index = b"00-database-info\nmade up\n", []
    for headword, body in entries.items():
        entry = f"{headword} /x/\n{body}\n".encode()
        index.append(f"{headword}\t{_b64(len(data))}\t{_b64(len(entry))}")
        data += entry
    index.insert(0, f"00-database-info\t{_b64(0)}\t{_b64(25)}")
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(data))
    (folder / f"{name}.index").write_text("\n".join(index) + "\n", encoding="utf-8")


@pytest.fixture
def dictd(tmp_path):
    write_dictd(tmp_path, "freedict-eng-fra", {
        "appeal": "1. faire appel\n2. recours",
        "lawyer": "avocat, avocat conseil",
        "court": "1. cour (de justice)\n2. tribunal",
    })
    write_dictd(tmp_path, "freedict-fra-eng", {
        "hébergement": "1. accommodation\n2. hosting",
        "entrepôt": "warehouse, store house",
        "recours": "appeal",
    })
    return tmp_path


def test_read_dictd_splits_senses_and_drops_notes(dictd):
    entries = read_dictd(dictd / "freedict-eng-fra.index", dictd / "freedict-eng-fra.dict.dz")
    assert entries == {"appeal": ["faire appel", "recours"], "lawyer": ["avocat", "avocat conseil"],
                       "court": ["cour", "tribunal"]}


def test_read_dictd_reads_each_entry_once_under_its_own_headword(tmp_path):
    # dictd also indexes entries under punctuation-free aliases ("quelquun", "00databaseinfo"),
    # pointing at the same block: they must not become headwords of their own.
    write_dictd(tmp_path, "freedict-fra-eng", {"quelqu'un": "somebody, one", "recours": "appeal"})
    index = tmp_path / "freedict-fra-eng.index"
    lines = index.read_text(encoding="utf-8").splitlines()
    alias = lines[1].replace("quelqu'un", "quelquun", 1)
    info = lines[0].replace("00-database-info", "00databaseinfo", 1)
    index.write_text("\n".join(lines[:1] + [info, alias] + lines[1:]) + "\n", encoding="utf-8")
    entries = read_dictd(index, tmp_path / "freedict-fra-eng.dict.dz")
    assert entries == {"quelqu'un": ["somebody", "one"], "recours": ["appeal"]}


def test_slot_entries_are_left_out(tmp_path):
    write_dictd(tmp_path, "freedict-eng-fra", {"... ago": "il y a ...", "ago": "il y a"})
    write_dictd(tmp_path, "freedict-fra-eng", {})
    rows = dict(line.split("\t") for line in glossary_lines(tmp_path)[2:])
    assert rows == {"ago": "il y a"}


def test_glossary_lines_merge_both_directions(dictd):
    lines = glossary_lines(dictd)
    assert lines[0].startswith("#") and lines[1].startswith("#")
    rows = dict(line.split("\t") for line in lines[2:])
    assert rows["appeal"] == "faire appel|recours"          # eng-fra first, the inverted pair not repeated
    assert rows["hosting"] == "hébergement"                 # from fra-eng, inverted
    assert rows["warehouse"] == "entrepôt"
    assert "store house" not in rows                        # multi-word English sides are not keys


def test_main_writes_the_file_it_loads(dictd, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out" / "glossary.tsv"
    monkeypatch.setattr("qa.glossary.GLOSSARY_PATH", out)
    assert main([str(dictd)]) == 0
    assert "English headwords" in capsys.readouterr().err
    assert translations("appeals", (out,)) == ("faire appel", "recours")  # any inflection: stem lookup
    assert translations("hosted", (out,)) == ("hébergement",)
    assert translations("zebra", (out,)) == ()


def test_main_refuses_a_missing_folder(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "usage" in capsys.readouterr().err


def test_missing_glossary_file_means_no_translations(tmp_path):
    assert load_glossary((tmp_path / "absent.tsv",)) == {}


def test_glossary_files_are_merged_in_order(tmp_path):
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    first.write_text("# header\nhost\thôte|aubergiste\n", encoding="utf-8")
    second.write_text("host\thôte|héberger\nhosting\thébergement\nstore\tmagasin|stocker\n", encoding="utf-8")
    paths = (first, second, tmp_path / "absent.tsv")
    assert translations("hosted", paths) == ("hôte", "aubergiste", "héberger", "hébergement")
    assert translations("stored", paths) == ("magasin", "stocker")


def test_english_key_is_the_stem():
    assert english_key("Hosting") == english_key("hosted") == english_key("host")


def test_shipped_glossary_is_the_freedict_conversion():
    header = GLOSSARY_PATH.read_text(encoding="utf-8").splitlines()[:2]
    assert "FreeDict" in header[0] and "python -m qa.glossary" in header[1]
    assert len(load_glossary()) > 8000
    assert "recours" in translations("appeal")
    assert "avocat" in translations("lawyers")
    text = GLOSSARY_PATH.read_text(encoding="utf-8")
    assert "\n00" not in text and "quelquun" not in text and "..." not in text


def test_shipped_common_word_list_is_well_formed_and_merged():
    lines = COMMON_WORDS_PATH.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#") and "12,000 most frequent English words" in lines[0]
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    assert len(rows) > 10000
    assert all(len(row) == 2 and row[0].isalpha() and row[0].islower() and all(row[1].split("|")) for row in rows)
    assert len({row[0] for row in rows}) == len(rows)
    # Senses FreeDict lacks reach the merged glossary.
    assert "héberger" in translations("hosted") and "stocker" in translations("storing")
    assert "hôte" in translations("host")  # FreeDict's own entry is kept
