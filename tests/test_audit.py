"""Known vulnerabilities in the installed dependencies (issue 6, Security): `pip-audit` against PyPI's
vulnerability data, for every package in this venv.

Why here and not in a separate job: the page is meant to be shared on a network, so a Gradio, Starlette
or Jinja advisory is a hole in the product; the suite fails the day one is published for what we install.

Outcomes:
- a known vulnerability not in IGNORED: the test fails and names the package, the advisory and the fixed versions;
- PyPI cannot be asked (no network, or a registry mirror that does not serve PyPI's per-release JSON, where
  the vulnerability data lives): the test is skipped and says which. `QA_REQUIRE_AUDIT=1` makes that a failure
  instead, for a machine that must not ship unaudited;
- a package PyPI does not know while others were audited: a failure, since it went unchecked — except this
  project itself (an editable install) and local builds such as `torch 2.13.0+cpu`, audited as their public
  release (2.13.0: the same source, another build).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Advisories that do not apply here, each with the reason (pip-audit's --ignore-vuln). Keep it short and dated.
IGNORED: dict[str, str] = {}

TIMEOUT_S = 420
_OFFLINE = re.compile(r"ConnectionError|Max retries exceeded|NameResolution|Temporary failure in name resolution|"
                      r"Failed to establish a new connection|timed out|Network is unreachable", re.IGNORECASE)
_NOT_ON_PYPI = "Dependency not found on PyPI"


def pip_audit(*args: str) -> dict:
    """Run pip-audit (JSON out) with the ignore list; its report, or a skip when PyPI cannot be reached."""
    for advisory, reason in IGNORED.items():
        assert re.fullmatch(r"(PYSEC|GHSA|CVE)-[\w-]+", advisory) and len(reason.split()) >= 4, \
            f"IGNORED[{advisory!r}]: an advisory id and a sentence saying why it does not apply"
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off",
               "--vulnerability-service", "pypi", "--timeout", "30", *args]
    for advisory in IGNORED:
        command += ["--ignore-vuln", advisory]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        offline(f"pip-audit did not finish in {TIMEOUT_S} s (PyPI too slow or unreachable)")
    try:
        return json.loads(run.stdout)
    except ValueError:
        message = (run.stderr.strip().splitlines() or ["no output"])[-1]
        if _OFFLINE.search(run.stderr):
            offline(f"pip-audit cannot reach PyPI: {message}")
        pytest.fail(f"pip-audit failed (exit {run.returncode}): {message}")


def offline(reason: str) -> None:
    if os.environ.get("QA_REQUIRE_AUDIT") == "1":
        pytest.fail(f"{reason}; QA_REQUIRE_AUDIT=1 requires the audit")
    pytest.skip(reason)


def findings(report: dict) -> list[str]:
    return [f"{d['name']} {d['version']}: {v['id']} ({', '.join(v.get('aliases') or []) or 'no alias'}), "
            f"fixed in {', '.join(v.get('fix_versions') or []) or 'no release yet'}"
            for d in report.get("dependencies", []) for v in d.get("vulns", [])]


def test_installed_dependencies_have_no_known_vulnerability(tmp_path):
    report = pip_audit("--skip-editable")
    deps = report.get("dependencies", [])
    assert deps, "pip-audit listed no installed package"
    audited = [d for d in deps if "skip_reason" not in d]
    skipped = [d for d in deps if "skip_reason" in d]
    if not audited:
        reasons = {d["skip_reason"].split(":")[0] for d in skipped}
        offline(f"PyPI's vulnerability data could not be read for any of the {len(deps)} packages "
                f"({'; '.join(sorted(reasons))}): offline, or a registry mirror without per-release JSON")

    # Local builds (torch 2.13.0+cpu) are not on PyPI under that name: audit their public release.
    local = {d["skip_reason"].rsplit("(", 1)[-1].rstrip(")"): d["name"] for d in skipped
             if _NOT_ON_PYPI in d["skip_reason"] and "+" in d["skip_reason"]}
    unexplained = [f"{d['name']}: {d['skip_reason']}" for d in skipped
                   if d["name"] not in local.values() and "editable" not in d["skip_reason"]]
    problems = findings(report)
    if local:
        requirements = tmp_path / "local-builds.txt"
        requirements.write_text("".join(f"{name}=={version.split('+')[0]}\n" for version, name in local.items()),
                                encoding="utf-8")
        public = pip_audit("-r", str(requirements), "--no-deps", "--disable-pip")
        problems += findings(public)
        unexplained += [f"{d['name']}: {d['skip_reason']}" for d in public.get("dependencies", []) if "skip_reason" in d]

    assert not problems, "known vulnerabilities (upgrade, or add to IGNORED with a reason):\n" + "\n".join(problems)
    assert not unexplained, "packages pip-audit could not check:\n" + "\n".join(unexplained)


def test_pip_audit_is_in_the_test_extra():
    """CI installs `.[test]` (setup.sh); without pip-audit there the audit above could not run."""
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    extra = pyproject["project"]["optional-dependencies"].get("test", [])
    assert any(re.match(r"pip-audit\s*[>=<~]", spec) for spec in extra), "add pip-audit to [project.optional-dependencies] test"
