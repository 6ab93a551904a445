"""Command-line shell over the `qa` API (see ../shared/CONTRACT.md): parsing, printing, exit codes; no logic."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .errors import InputError, QAError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _stderr(message: str) -> None:
    click.echo(message, err=True)


def reports_errors(command):
    """Turn domain errors into one line on stderr and the contract's exit code (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except QAError as exc:
            _stderr(f"qa: error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _stderr("qa: interrupted")
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(0)

    return wrapper


def _settings(**overrides):
    from .settings import Settings

    return Settings.from_env(**overrides)


# Characters that JSON allows raw inside strings but that many line readers (Python's splitlines,
# JavaScript before ES2019) take for line breaks: escaped, so one answer is always one line.
_LINE_BREAKERS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_line(record: dict) -> str:
    """One JSON line; text that cannot be encoded (lone surrogates from a mis-encoded argv) is escaped."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=True)
    for raw, escaped in _LINE_BREAKERS.items():
        if raw in line:  # only ever inside a JSON string, where the escape means the same character
            line = line.replace(raw, escaped)
    return line


corpus_option = click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Article folder (default: seeds/, or $QA_CORPUS).")
index_option = click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder (default: index/, or $QA_INDEX).")
model_option = click.option("--model", help="sentence-transformers model name or folder (default: intfloat/multilingual-e5-small, built offline; or $QA_MODEL).")


class OneLineErrors(click.Group):
    """A command group whose usage errors are one line on stderr and exit code 2, as the contract says."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else (prog_name or "qa")
            _stderr(f"qa: error: {exc.format_message()} (see `{where} --help`)")
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            _stderr("qa: interrupted")
            sys.exit(130)


@click.group(cls=OneLineErrors, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="qa", prog_name="qa")
def main():
    """Answer French or English questions about news articles, quoting them verbatim with citations."""


@main.command("index")
@corpus_option
@index_option
@model_option
@click.option("--force", is_flag=True, help="Rebuild even if the index is up to date.")
@click.option("--check", is_flag=True, help="Only verify the index (checksums, staleness) and report.")
@click.option("--index-type", type=click.Choice(["auto", "flat", "ivf", "hnsw"]), default=None,
              help="Dense index: auto (exact up to 250,000 passages, IVF above, tuned to recall@10 >= 0.95), "
                   "or force one (default auto, or $QA_INDEX_TYPE).")
@reports_errors
def index_command(corpus_dir, index_dir, model, force, check, index_type):
    """Build (or rebuild) the index of the corpus; progress on stderr."""
    from .index import build_index, index_problem, load_index, verify_index

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, index_type=index_type)
    if check:
        manifest = verify_index(settings.index_dir)
        load_index(settings.index_dir, settings)  # corruption is reported before staleness
        problem = index_problem(settings.index_dir, settings)
        if problem:
            raise QAError(f"index is intact but stale: {problem}")
        dense = manifest.get("dense", {"type": "flat"})
        click.echo(f"index in {settings.index_dir}/ is healthy: {manifest['n_passages']} passages from "
                   f"{manifest['n_articles']} articles, model {manifest['model']}, {_describe_dense(dense)}, "
                   f"built {manifest['built_at']}")
        return
    if not force:
        problem = index_problem(settings.index_dir, settings)
        if problem is None:
            try:
                load_index(settings.index_dir, settings, settings.model)
                _stderr(f"Index in {settings.index_dir}/ is up to date with {settings.corpus_dir}/; nothing to do (--force rebuilds).")
                return
            except QAError as exc:
                _stderr(f"Rebuilding: {exc}")
        else:
            _stderr(f"Building the index: {problem}")
    from .embed import load_embedder

    build_index(settings, load_embedder(settings.model, settings.torch_threads), _stderr)


def _describe_dense(dense: dict) -> str:
    """'exact dense search' or 'IVF dense index (nlist 4000, nprobe 96, recall@10 0.976)' from the manifest."""
    if dense.get("type") == "flat":
        return "exact dense search" + (f" ({dense['fallback']})" if dense.get("fallback") else "")
    knobs = ", ".join(f"{k} {dense[k]}" for k in ("nlist", "nprobe", "M", "efSearch") if k in dense)
    recall = f", recall@10 {dense['recall_at_10']}" if "recall_at_10" in dense else ""
    return f"{str(dense.get('type')).upper()} dense index ({knobs}{recall})"


@main.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@corpus_option
@index_option
@model_option
@reports_errors
def add_command(files, corpus_dir, index_dir, model):
    """Add or replace articles in an existing index without re-embedding the others."""
    from .embed import load_embedder
    from .index import add_articles, ensure_index

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model)
    embedder = load_embedder(settings.model, settings.torch_threads)
    if not (settings.index_dir / "manifest.json").exists():
        ensure_index(settings, embedder, _stderr)
    index = add_articles(list(files), settings, embedder, _stderr)
    _stderr(f"Index in {settings.index_dir}/ now holds {index.manifest['n_passages']} passages from {index.manifest['n_articles']} articles.")


@main.command("ask")
@click.argument("question", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question on stdout (the contract's format).")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Number of passages to cite (default 5).")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default=None, help="Retrieval mode (default hybrid).")
@corpus_option
@index_option
@model_option
@reports_errors
def ask_command(question, as_json, k, mode, corpus_dir, index_dir, model):
    """Answer QUESTION, or one question per line of standard input when none is given."""
    from .service import QA

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, top_k=k, mode=mode)
    if question:
        questions = [" ".join(question)]
    else:
        if sys.stdin.isatty():
            _stderr("Type one question per line; end with Ctrl-D.")
        # Bytes, decoded leniently: one badly encoded line must not stop the batch.
        raw = sys.stdin.buffer.read().decode("utf-8", errors="replace")
        questions = [line.rstrip("\r") for line in raw.split("\n") if line.strip()]
        if not questions:
            raise InputError("no question given (pass it as arguments or on standard input)")
    qa = QA(settings, progress=_stderr)
    results = qa.ask_many(questions)
    failures = 0
    for asked, result in zip(questions, results):
        if isinstance(result, InputError):
            failures += 1
            if as_json:
                click.echo(_json_line({"question": asked, "error": str(result)}))
            else:
                _stderr(f"qa: {asked[:80]!r}: {result}")
            continue
        if as_json:
            click.echo(_json_line(result.to_json()))
        else:
            from .render import answer_as_text

            click.echo(answer_as_text(result))
    if failures and len(questions) == 1:
        sys.exit(2)


@main.command("eval")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--out", type=click.Path(path_type=Path), help="Write a report folder (metrics.json, per_question.jsonl, metrics.png).")
@click.option("--compare", is_flag=True, help="Score hybrid, dense-only and BM25-only retrieval side by side.")
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True, help="Passages cited per question.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default=None, help="Retrieval mode (default hybrid).")
@corpus_option
@index_option
@model_option
@reports_errors
def eval_command(file, as_json, out, compare, k, mode, corpus_dir, index_dir, model):
    """Score an evaluation set (JSON Lines, the contract's format) and report the metrics."""
    from .evaluate import evaluate, load_eval_set
    from .render import metrics_table
    from .report import write_report
    from .service import QA

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, mode=mode)
    qa = QA(settings, progress=_stderr)
    items = load_eval_set(file, lambda doc: qa.index.articles[doc].text if doc in qa.index.articles else None)
    modes = ["hybrid", "dense", "lexical"] if compare else [settings.mode]
    results = {}
    for run_mode in modes:
        with click.progressbar(length=len(items), label=f"Evaluating ({run_mode})", file=sys.stderr) as bar:
            results[run_mode] = evaluate(items, lambda q, m=run_mode: qa.ask(q, k=k, mode=m), lambda i, n: bar.update(1))
    if out:
        write_report(out, results)
        _stderr(f"Report written to {out}/ (metrics.json, per_question.jsonl, metrics.png)")
    metrics = {m: r["metrics"] for m, r in results.items()}
    if as_json:
        click.echo(json.dumps(metrics if compare else metrics[modes[0]], ensure_ascii=False))
    else:
        click.echo(metrics_table(metrics))


@main.command("serve", context_settings=CONTEXT_SETTINGS)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 opens the page to the network).")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option("--auth", metavar="USER:PASSWORD", envvar="QA_AUTH", help="Require this login (or set $QA_AUTH, which keeps it out of `ps`).")
@corpus_option
@index_option
@model_option
@reports_errors
def serve_command(host, port, auth, corpus_dir, index_dir, model):
    """Start the web page (Gradio); the model and index load once, the index is built first if needed."""
    from .web import parse_auth, serve

    credentials = parse_auth(auth)
    serve(_settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model), host=host, port=port,
          auth=credentials, progress=_stderr)
