"""An index generation on disk: written whole beside the index, swapped in by renames, vouched for by checksums.

Crash safety (tested by killing writers at random, tests/test_reliability_crash.py): a generation is
written into `.NAME.tmp-PID-NS` beside the index, fsynced, manifest last, then swapped in by two renames
(the old one becomes `.NAME.old-PID-NS`, removed once the new one is in place). One writer at a time
(`writer_lock`, an flock the system drops if the writer dies); each write first restores a generation
left half-swapped and deletes what dead writers left. Readers take no lock: they verify every checksum,
re-read if a swap happened meanwhile, and restore a half-swapped index themselves (like SQLite's hot
journal rollback), so a torn index is never loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import IndexStateError, one_line
from .load import file_digest
from .records import Progress, quiet

MANIFEST = "manifest.json"
# Files every generation has (plus bm25/…); a manifest that does not list them all is not trusted.
REQUIRED_FILES = ("articles.jsonl", "passages.jsonl", "embeddings.npy", "dense.faiss", "sentences.npy",
                  "sentence_spans.npy", "hubness.npy", "titles.npy")



# ---------------------------------------------------------------- writing: one writer, atomic generations

_held_locks = threading.local()


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's writer lock: one writer at a time, across processes and threads.

    An advisory `flock` on the index's parent folder (no lock file to leave behind); the system drops it
    when the holder dies, even by kill -9. Re-entrant within a thread. Readers never take it, except to
    recover a generation a dead writer left half-swapped (see `recover_index`).
    """
    parent = Path(os.path.abspath(index_dir)).parent
    parent.mkdir(parents=True, exist_ok=True)
    key = str(parent)
    held = getattr(_held_locks, "counts", None)
    if held is None:
        held = _held_locks.counts = {}
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    try:
        fd = os.open(parent, os.O_RDONLY)
    except OSError:  # a platform without directory file descriptors: no inter-process lock
        fd = None
    try:
        if fd is not None:
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            except (ImportError, OSError):
                pass
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)
    finally:
        if fd is not None:
            os.close(fd)  # releases the flock


def _sibling_prefixes(dest: Path) -> tuple[str, str]:
    return f".{dest.name}.tmp-", f".{dest.name}.old-"


def leftovers(dest: Path) -> list[Path]:
    """Temporary (`.NAME.tmp-*`) and previous (`.NAME.old-*`) generations lying next to the index."""
    if not dest.parent.is_dir():
        return []
    return sorted(p for p in dest.parent.iterdir() if p.name.startswith(_sibling_prefixes(dest)))


def remove_leftovers(dest: Path, progress: Progress = quiet) -> list[str]:
    """Delete what writers that died left next to the index; only call it holding the writer lock."""
    removed = []
    for path in leftovers(dest):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    if removed:
        progress(f"Removed {len(removed)} unfinished index generation(s) left by an interrupted run: {', '.join(removed)}")
    return removed


def recover_index(dest: Path, progress: Progress = quiet) -> bool:
    """Put the previous generation back if a writer died between the two renames of `_swap`.

    Then the index folder is missing while `.NAME.old-*` holds the last complete generation (like a
    hot journal in SQLite, any reader rolls it back). Done under the writer lock, so a live writer's
    swap is never undone. True if a generation was restored.
    """
    if dest.exists() or not any(p.name.startswith(_sibling_prefixes(dest)[1]) for p in leftovers(dest)):
        return False
    with writer_lock(dest):
        if dest.exists():  # a live writer finished its swap meanwhile
            return False
        olds = [p for p in leftovers(dest) if p.name.startswith(_sibling_prefixes(dest)[1]) and p.is_dir()]
        for old in sorted(olds, key=lambda p: p.stat().st_mtime_ns, reverse=True):
            try:
                _verify(old, recover=False)
            except IndexStateError:
                continue
            os.replace(old, dest)
            _fsync_dir(dest.parent)
            progress(f"Restored the index in {dest}/ from {old.name} (a write was interrupted mid-swap)")
            return True
    return False


@contextlib.contextmanager
def new_generation(dest: Path) -> Iterator[Path]:
    """Hold the writer lock and give an empty temporary folder beside `dest` to write a generation into.

    It first restores a half-swapped previous generation and removes what crashed writers left
    (`.NAME.tmp-*`, `.NAME.old-*`), so leftovers never pile up; the folder is deleted if the block fails.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(dest):
        recover_index(dest)
        remove_leftovers(dest)
        tmp = dest.with_name(f"{_sibling_prefixes(dest)[0]}{os.getpid()}-{time.time_ns()}")
        tmp.mkdir()
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def commit_generation(tmp: Path, dest: Path, manifest: dict) -> dict:
    """Put `tmp` in place as `dest`: the manifest, given each data file's checksum (`files`), is written last,
    once every file is on disk, then the folders are swapped. Returns the manifest as written."""
    manifest = {**manifest, "files": {rel: file_digest(tmp / rel) for rel in _data_files(tmp)}}
    _fsync_tree(tmp)  # every data file is on disk before the manifest that vouches for them
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _fsync_tree(tmp)
    _swap(tmp, dest)
    return manifest


def _swap(tmp: Path, dest: Path) -> None:
    """Replace `dest` by `tmp` with renames; the old generation is removed only once the new one is in place.

    A crash between the two renames leaves no `dest` but a complete `.NAME.old-*`: `recover_index` puts it back.
    """
    old = None
    if dest.exists():
        old = dest.with_name(f"{_sibling_prefixes(dest)[1]}{os.getpid()}-{time.time_ns()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _data_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
    for path in [*(p for p in folder.rglob("*") if p.is_dir()), folder]:
        _fsync_dir(path)


def _fsync_dir(folder: Path) -> None:
    """Make renames and new entries in a folder durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_jsonl(path: Path, records) -> None:
    """One JSON object a line, UTF-8 as is (read back by qa.index)."""
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- reading: checksums verified

def read_manifest(index_dir: Path, recover: bool = True) -> dict | None:
    """The manifest in `index_dir`, None if there is none (a half-swapped generation put back first when
    `recover`); IndexStateError if it cannot be read. Checksums are `verify_index`'s business."""
    path = index_dir / MANIFEST
    if not path.is_file() and recover and recover_index(index_dir):
        pass  # a half-swapped generation was put back: read it
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise IndexStateError(f"index in {index_dir}/ is corrupt: unreadable {MANIFEST} ({exc.__class__.__name__}); run `qa index` to rebuild it") from None
    if not isinstance(manifest, dict):
        raise IndexStateError(f"index in {index_dir}/ is corrupt: {MANIFEST} is not an object; run `qa index` to rebuild it")
    return manifest


def verify_index(index_dir: Path) -> dict:
    """Check the manifest and every file's checksum; the manifest, or IndexStateError naming the broken file."""
    return _verify(index_dir, recover=True)


def _verify(index_dir: Path, recover: bool) -> dict:
    try:
        return _verify_files(index_dir, recover)
    except OSError as exc:  # a file vanished or cannot be read (e.g. a writer swapped the folder meanwhile)
        raise IndexStateError(f"index in {index_dir}/ cannot be read ({one_line(exc)}); run `qa index` to rebuild it") from None


def _verify_files(index_dir: Path, recover: bool) -> dict:
    manifest = read_manifest(index_dir, recover=recover)
    if manifest is None:
        raise IndexStateError(f"no index in {index_dir}/; run `qa index` to build it")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexStateError(f"index in {index_dir}/ is corrupt: its manifest lists no files; run `qa index` to rebuild it")
    for rel in REQUIRED_FILES:
        if rel not in files:
            raise IndexStateError(f"index in {index_dir}/ is corrupt: its manifest does not vouch for {rel}; run `qa index` to rebuild it")
    bm25_dir = index_dir / "bm25"
    on_disk = {p.relative_to(index_dir).as_posix() for p in bm25_dir.rglob("*") if p.is_file()} if bm25_dir.is_dir() else set()
    unlisted = sorted(on_disk - files.keys())
    if unlisted or not any(rel.startswith("bm25/") for rel in files):
        raise IndexStateError(f"index in {index_dir}/ is corrupt: {unlisted[0] if unlisted else 'bm25/'} is not in its manifest; run `qa index` to rebuild it")
    for rel, digest in files.items():
        parts = rel.split("/") if isinstance(rel, str) else [""]
        if not isinstance(digest, str) or any(part in ("", ".", "..") for part in parts) or rel.startswith("/") or "\\" in rel:
            raise IndexStateError(f"index in {index_dir}/ is corrupt: its manifest lists a bad file entry {str(rel)[:80]!r}; run `qa index` to rebuild it")
        path = index_dir / rel
        if not path.is_file():
            raise IndexStateError(f"index in {index_dir}/ is corrupt: {rel} is missing; run `qa index` to rebuild it")
        try:
            actual = file_digest(path)
        except OSError as exc:
            raise IndexStateError(f"index in {index_dir}/ is corrupt: {rel} cannot be read ({exc.__class__.__name__}); run `qa index` to rebuild it") from None
        if actual != digest:
            raise IndexStateError(f"index in {index_dir}/ is corrupt: {rel} does not match its checksum; run `qa index` to rebuild it")
    return manifest
