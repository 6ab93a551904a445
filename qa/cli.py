"""Command-line shell over the `qa` API (see docs/CONTRACT.md): parsing, printing, exit codes; no logic."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .errors import InputError, QAError
from .text import visible

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _stderr(message: str) -> None:
    """One message line on stderr; control characters in it (from a file name, an article, a question) are
    shown as escapes, so no message can break its line or drive the terminal."""
    click.echo(visible(message, keep="\t"), err=True)


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
# JavaScript before ES2019) take for line breaks, or that a terminal obeys (DEL and the C1 controls, such
# as \x9b, a one-byte escape sequence): escaped, so one answer is always one line and a JSON line shown on
# a terminal drives nothing. The escape means the same character, so quotes stay exact slices.
_ESCAPED_IN_JSON = {code: f"\\u{code:04x}" for code in [0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]}


def _json_line(record: dict) -> str:
    """One JSON line; text that cannot be encoded (lone surrogates from a mis-encoded argv) is escaped."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=True)
    return line.translate(_ESCAPED_IN_JSON)  # only ever inside a JSON string, where the escape means the same character


corpus_option = click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Article folder (default: seeds/, or $QA_CORPUS).")
index_option = click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index folder (default: index/, or $QA_INDEX).")
store_option = click.option("--store", metavar="URL", help="postgresql://… to use PostgreSQL + pgvector instead of the index folder (or $QA_STORE).")
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
@store_option
@model_option
@click.option("--force", is_flag=True, help="Rebuild even if the index is up to date.")
@click.option("--check", is_flag=True, help="Only verify the index (checksums, staleness) and report.")
@click.option("--index-type", type=click.Choice(["auto", "flat", "ivf", "hnsw"]), default=None,
              help="Dense index: auto (exact up to 250,000 passages, IVF above, tuned to recall@10 >= 0.95), "
                   "or force one (default auto, or $QA_INDEX_TYPE).")
@reports_errors
def index_command(corpus_dir, index_dir, store, model, force, check, index_type):
    """Build (or rebuild) the index of the corpus; progress on stderr."""
    from .build import build_index
    from .generation import verify_index
    from .index import index_problem, load_index
    from .store import is_database_url

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, store=store, index_type=index_type)
    if is_database_url(settings.store):
        from .embed import load_embedder
        from .pgstore import PgStore

        embedder = load_embedder(settings.model, settings.torch_threads)
        pg = PgStore.open(settings, embedder, _stderr, create=not check)
        if check:
            stats = pg.check()
            click.echo(f"database {stats['location']} is healthy: schema v{stats['schema_version']}, {stats['n_passages']} passages "
                       f"from {stats['n_articles']} articles, model {stats['model']}")
            return
        pg.sync(embedder, _stderr, force=force)
        return
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


def _is_address(value: str) -> bool:
    from .pages import is_address

    return is_address(value)


def _describe_dense(dense: dict) -> str:
    """'exact dense search' or 'IVF dense index (nlist 4000, nprobe 96, recall@10 0.976)' from the manifest."""
    if dense.get("type") == "flat":
        return "exact dense search" + (f" ({dense['fallback']})" if dense.get("fallback") else "")
    knobs = ", ".join(f"{k} {dense[k]}" for k in ("nlist", "nprobe", "M", "efSearch") if k in dense)
    recall = f", recall@10 {dense['recall_at_10']}" if "recall_at_10" in dense else ""
    return f"{str(dense.get('type')).upper()} dense index ({knobs}{recall})"


@main.command("add")
@click.argument("files", nargs=-1, required=True, metavar="FILE_OR_URL...")
@click.option("--title", help="Front matter for the one article given: its title.")
@click.option("--author", help="… its author.")
@click.option("--date", "date", help="… its publication date (YYYY-MM-DD).")
@click.option("--url", help="… its address.")
@click.option("--lang", help="… its language (fr, en…).")
@click.option("--replace", is_flag=True, help="Let a file replace the corpus article of the same name (another file).")
@corpus_option
@index_option
@store_option
@model_option
@reports_errors
def add_command(files, title, author, date, url, lang, replace, corpus_dir, index_dir, store, model):
    """Add or replace articles (.txt, .md, saved .html pages, or http(s) addresses to fetch) in an existing
    index without re-embedding the others. A page is stored in the corpus as its extracted article
    (Markdown with front matter); --title, --date … write front matter for a file that has none; --replace
    lets a file replace a different corpus article of the same name."""
    from .build import add_articles, check_additions, ensure_index
    from .embed import load_embedder
    from .frontmatter import check_fields
    from .store import is_database_url

    metadata = check_fields({"title": title, "author": author, "date": date, "url": url, "lang": lang})
    inputs = [f if _is_address(f) else Path(f) for f in files]
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, store=store)
    check_additions(inputs, settings, replace, metadata)  # a bad file is refused before the model loads
    embedder = load_embedder(settings.model, settings.torch_threads)
    if is_database_url(settings.store):
        from .pgstore import PgStore

        stats = PgStore.open(settings, embedder, _stderr).add(inputs, embedder, _stderr, metadata=metadata, replace=replace)
        _stderr(f"Database {stats['location']} now holds {stats['n_passages']} passages from {stats['n_articles']} articles.")
        return
    if not (settings.index_dir / "manifest.json").exists():
        ensure_index(settings, embedder, _stderr)
    index = add_articles(inputs, settings, embedder, _stderr, metadata=metadata, replace=replace)
    _stderr(f"Index in {settings.index_dir}/ now holds {index.manifest['n_passages']} passages from {index.manifest['n_articles']} articles.")


@main.command("ask")
@click.argument("question", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question on stdout (the contract's format).")
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Number of passages to cite (default 5).")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical", "rrf"]), default=None, help="Ranking: hybrid (the learned ranker, default) or a plain baseline.")
@click.option("--since", metavar="DATE", help="Only articles dated on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD); "
              "undated articles are left out, inferred dates count.")
@click.option("--until", metavar="DATE", help="Only articles dated on or before DATE (a year or month: to its end).")
@corpus_option
@index_option
@store_option
@model_option
@reports_errors
def ask_command(question, as_json, k, mode, since, until, corpus_dir, index_dir, store, model):
    """Answer QUESTION, or one question per line of standard input when none is given."""
    from .dates import check_range, parse_bound
    from .service import QA

    since_date, until_date = parse_bound(since, option="--since"), parse_bound(until, end=True, option="--until")
    check_range(since_date, until_date)
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, top_k=k, mode=mode, store=store)
    if question:
        questions = [" ".join(question)]
    else:
        if sys.stdin.isatty():
            _stderr("Type one question per line; end with Ctrl-D.")
        # Bytes, decoded leniently: one badly encoded line must not stop the batch.
        questions = stdin_questions(sys.stdin.buffer.read().decode("utf-8", errors="replace"))
        if not questions:
            raise InputError("no question given (pass it as arguments or on standard input)")
    qa = QA(settings, progress=_stderr)
    results = qa.ask_many(questions, since=since_date, until=until_date)
    failures = 0
    for number, (asked, result) in enumerate(zip(questions, results), start=1):
        if isinstance(result, InputError):
            failures += 1
            # The same line on stderr in both modes; with --json the error object takes the question's line.
            where = "error" if len(questions) == 1 and question else f"line {number}"
            _stderr(f"qa: {where}: {asked[:80]!r}: {result}")
            if as_json:
                click.echo(_json_line({"question": asked, "error": str(result)}))
            continue
        if as_json:
            click.echo(_json_line(result.to_json()))
        else:
            from .render import answer_as_text

            click.echo(answer_as_text(result))
    if failures == len(questions):
        sys.exit(2)  # nothing could be asked: bad input (one or more lines above say why)


def stdin_questions(text: str) -> list[str]:
    """One question per line of standard input, blank lines included (each gets its own answer or error line,
    so a caller can pair input and output lines); lines end at "\n" only (a trailing "\r" is dropped), and
    the newline that ends the last line starts no new one."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


@main.command("articles")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article on stdout.")
@corpus_option
@index_option
@store_option
@model_option
@reports_errors
def articles_command(as_json, corpus_dir, index_dir, store, model):
    """List the indexed articles with what their citations will show: title, author, date (stated, inferred
    or none), language and number of passages. The index is built first when missing or stale."""
    from .render import articles_text
    from .store import is_database_url

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, store=store)
    if is_database_url(settings.store):
        from .embed import load_embedder
        from .pgstore import PgStore

        rows = PgStore.open(settings, load_embedder(settings.model, settings.torch_threads), _stderr, create=False).catalog()
    else:
        from .index import index_problem, load_index
        from .store import EmbeddedStore

        if index_problem(settings.index_dir, settings) is None:
            index = load_index(settings.index_dir, settings)
        else:
            from .build import ensure_index
            from .embed import load_embedder

            index = ensure_index(settings, load_embedder(settings.model, settings.torch_threads), _stderr)
        rows = EmbeddedStore(settings, index).catalog()
    if as_json:
        for row in rows:
            click.echo(_json_line(row))
    else:
        click.echo(articles_text(rows), nl=False)


@main.command("eval")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("--suite", type=click.Path(path_type=Path),
              help="Score every corpus of an evaluation suite (<suite>/<name>/articles/ + questions.jsonl) beside the "
                   "plain baselines, one row per corpus and the macro averages of the tune and check corpora.")
@click.option("--split", type=click.Path(path_type=Path), help="With --suite: the split file (default: split.json in or beside the suite).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--out", type=click.Path(path_type=Path), help="Write a report folder (metrics, per-question rows, plots).")
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True, help="Passages cited per question.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical", "rrf"]), default=None,
              help="Ranking: hybrid (the learned ranker, default) or a plain baseline (FILE only).")
@corpus_option
@index_option
@store_option
@model_option
@reports_errors
def eval_command(file, suite, split, as_json, out, k, mode, corpus_dir, index_dir, store, model):
    """Score an evaluation set (JSON Lines, the contract's format) or a whole suite, and report the metrics."""
    if (file is None) == (suite is None):
        raise InputError("give either an evaluation FILE or --suite DIR")
    if suite is not None:
        return _eval_suite(suite, split, as_json, out, k, model)
    from .evaluate import evaluate, load_eval_set
    from .render import metrics_table
    from .report import write_report
    from .service import QA

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, mode=mode, store=store)
    qa = QA(settings, progress=_stderr)
    items = load_eval_set(file, qa.article_text)
    with click.progressbar(length=len(items), label="Scoring", file=sys.stderr) as bar:
        result = evaluate(items, lambda q: qa.ask(q, k=k), lambda _i, _n: bar.update(1))
    name = settings.mode
    if out:
        write_report(out, {name: result})
        _stderr(f"Report written to {out}/ (metrics.json, per_question.jsonl, metrics.png)")
    if as_json:
        click.echo(json.dumps(result["metrics"], ensure_ascii=False))
    else:
        click.echo(metrics_table({name: result["metrics"]}))


def _eval_suite(suite, split, as_json, out, k, model):
    from .embed import load_embedder
    from .suite import default_cache, evaluate_suite, load_suite, suite_table, write_suite_report

    settings = _settings(model=model)
    corpora = load_suite(suite, split)
    embedder = load_embedder(settings.model, settings.torch_threads)
    report = evaluate_suite(corpora, settings, embedder, default_cache(), k, _stderr)
    if out:
        write_suite_report(out, report)
        _stderr(f"Report written to {out}/ (summary.json, summary.txt, <corpus>/metrics.json and per_question.jsonl, "
                "corpora.png, reliability.png)")
    if as_json:
        click.echo(json.dumps(report["macro"], ensure_ascii=False))
    else:
        click.echo(suite_table(report))


@main.command("train")
@click.option("--suite", type=click.Path(path_type=Path), default=Path("eval/corpora"), show_default=True,
              help="The evaluation suite whose tune corpora train the models.")
@click.option("--split", type=click.Path(path_type=Path), help="The split file (default: split.json in or beside the suite).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for ranker.json, abstain.json, quoter.json (default: the package's qa/data/).")
@click.option("--max-false-refusals", type=click.FloatRange(0, 0.5), default=0.05, show_default=True,
              help="The abstention operating point: at most this share of answerable questions refused (cross-validated).")
@model_option
@reports_errors
def train_command(suite, split, out, max_false_refusals, model):
    """Train the ranker, answerability and quoting models on the tune corpora of a suite (never the check ones)."""
    from .embed import load_embedder
    from .suite import default_cache, load_suite, sessions
    from .train import collect, train

    settings = _settings(model=model)
    corpora = [c for c in load_suite(suite, split) if c.role == "tune"]
    if not corpora:
        raise InputError(f"{suite}: no corpus is declared 'tune' in its split file")
    embedder = load_embedder(settings.model, settings.torch_threads)
    data = collect(sessions(corpora, settings, embedder, default_cache(), _stderr), _stderr)
    out = out or settings.ranker_model.parent
    report = train(data, out, max_false_refusals, {"corpora": [c.name for c in corpora], "model": embedder.name,
                                                  "questions": len(data)}, _stderr)
    click.echo(json.dumps(report, indent=1))


@main.command("serve", context_settings=CONTEXT_SETTINGS)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 opens the page to the network).")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option("--auth", metavar="USER:PASSWORD", envvar="QA_AUTH", help="Require this login (or set $QA_AUTH, which keeps it out of `ps`).")
@corpus_option
@index_option
@store_option
@model_option
@reports_errors
def serve_command(host, port, auth, corpus_dir, index_dir, store, model):
    """Start the web page (Gradio); the model and index load once, the index is built first if needed."""
    from .web_server import parse_auth, serve

    credentials = parse_auth(auth)
    serve(_settings(corpus_dir=corpus_dir, index_dir=index_dir, model=model, store=store), host=host, port=port,
          auth=credentials, progress=_stderr)


@main.group("db", context_settings=CONTEXT_SETTINGS)
def db_group():
    """The PostgreSQL store's schema: create it, migrate it, show what it holds."""


def _database_settings(store, model, corpus_dir=None):
    from .store import is_database_url

    settings = _settings(store=store, model=model, corpus_dir=corpus_dir)
    if not is_database_url(settings.store):
        raise InputError("give the database as --store postgresql://… (or set $QA_STORE)")
    return settings


@db_group.command("init")
@store_option
@model_option
@reports_errors
def db_init_command(store, model):
    """Create pgvector and the qa schema (vector column sized for the model) in an empty database."""
    from .embed import load_embedder
    from .index import index_params
    from .pgschema import SCHEMA_VERSION, connect, migrate, schema_version
    from .urls import redact

    settings = _database_settings(store, model)
    with connect(settings.store) as conn:
        version = schema_version(conn)
    if version:
        click.echo(f"{redact(settings.store)} already has the qa schema (version {version}); `qa db migrate` upgrades it")
        return
    embedder = load_embedder(settings.model, settings.torch_threads)
    migrate(settings.store, embedder.dim, embedder.name, index_params(settings, embedder.name), progress=_stderr)
    click.echo(f"{redact(settings.store)}: qa schema version {SCHEMA_VERSION} created for {embedder.name} ({embedder.dim} dimensions)")


@db_group.command("migrate")
@store_option
@click.option("--to", "target", type=int, default=None, help="Stop at this schema version (default: the latest).")
@reports_errors
def db_migrate_command(store, target):
    """Apply the schema migrations the database lacks (each in its own transaction)."""
    from .pgschema import SCHEMA_VERSION, migrate
    from .urls import redact

    settings = _database_settings(store, None)
    target = SCHEMA_VERSION if target is None else target
    if not 1 <= target <= SCHEMA_VERSION:
        raise InputError(f"--to must be between 1 and {SCHEMA_VERSION}")
    before, after = migrate(settings.store, target=target, progress=_stderr)
    click.echo(f"{redact(settings.store)}: schema version {before} → {after}" if after != before
               else f"{redact(settings.store)}: schema version {after}, nothing to migrate")


@db_group.command("status")
@store_option
@model_option
@reports_errors
def db_status_command(store, model):
    """Print the schema version and what the database holds, as one JSON object."""
    from .pgschema import describe

    click.echo(json.dumps(describe(_database_settings(store, model).store)))
