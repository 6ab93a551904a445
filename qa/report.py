"""Evaluation report folders, written atomically so an interrupted run leaves no half-written report."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path


def write_report(out: Path, result: dict) -> None:
    """Write metrics.json and per_question.jsonl (failures first) into `out`, replacing it whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        (tmp / "metrics.json").write_text(json.dumps(result["metrics"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        rows = sorted(result["rows"], key=lambda r: r["pass"])
        with (tmp / "per_question.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
