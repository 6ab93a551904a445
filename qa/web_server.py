"""Serving the page: the address and port checked before the model loads, the login parsed, the model and
index loaded once, then Gradio's server started with safe settings (local only by default, no share
link, no analytics, no external fonts or scripts, uploads refused). The page itself is qa/web.py.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import InputError, QAError
from .web import build_app, queue_limits
from .web_html import CSS, HEAD
from .web_login import LoginThrottle, ThrottledLogin

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr

    from .service import QA
    from .settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# The page has no upload component, but Gradio's /gradio_api/upload route accepts files of any size into its
# temporary folder all the same: a shared page could have its disk filled. Nothing of ours uploads, so 1 KiB.
MAX_UPLOAD_BYTES = 1024


def theme() -> gr.themes.Base:
    """Gradio's default theme with system fonts only: nothing is fetched from a font CDN."""
    import gradio as gr

    return gr.themes.Default(font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])


def launch(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           auth: tuple[str, str] | None = None, block: bool = True, quiet: bool = True):
    """Start the server (local only unless host says otherwise; never a share link). Returns (app, url, None)."""
    from starlette.middleware import Middleware

    # With a login, wrong passwords are throttled per client (LoginThrottle), and logged.
    app_kwargs = {"middleware": [Middleware(ThrottledLogin, throttle=LoginThrottle())]} if auth else None
    try:
        return demo.launch(
            server_name=host, server_port=port, auth=auth, share=False, prevent_thread_lock=not block, app_kwargs=app_kwargs,
            quiet=quiet, show_error=False, inbrowser=False, ssr_mode=False, pwa=False, mcp_server=False,
            max_file_size=MAX_UPLOAD_BYTES,
            enable_monitoring=False, run_history=False, footer_links=["api"],
            theme=theme(), css=CSS, head=HEAD, auth_message="qa — identifiez-vous · please log in" if auth else None,
        )
    except OSError as exc:
        raise QAError(f"cannot listen on {host}:{port}: {exc}".splitlines()[0]) from None


def check_port(host: str, port: int) -> None:
    """QAError when the address cannot be listened on (port in use, unknown host), with what to do."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise QAError(f"cannot listen on {host}: {exc.strerror or exc}") from None
    family, _type, _proto, _name, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            raise QAError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                          "is the page already running? Choose another port with --port") from None


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """'user:password' as a (user, password) pair; InputError when it is not of that form."""
    if value is None or value == "":
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InputError("--auth must be USER:PASSWORD, both non-empty")
    return user, password


def serve(settings: Settings | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          auth: tuple[str, str] | None = None, progress: Callable[[str], None] | None = None,
          block: bool = True, qa: QA | None = None) -> gr.Blocks:
    """Load the model and index once (building the index if it is missing or stale), then serve the page.

    With block=False it returns the running Blocks at once (its `local_url`; `close()` stops it).
    """
    from .service import QA
    from .settings import Settings

    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    check_port(host, port)  # before the model loads: a busy port should not cost seconds to find out
    queue_limits()  # likewise a bad $QA_QUEUE_SIZE / $QA_CONCURRENCY
    if qa is None:
        settings = settings or Settings.from_env()
        from .store import is_database_url
        from .urls import redact

        where = f"the database {redact(settings.store)}" if is_database_url(settings.store) else f"the index ({settings.index_dir}/)"
        say(f"Loading the model ({settings.model}) and {where}…")
        qa = QA(settings, progress=say)
    demo = build_app(qa)
    launch(demo, host, port, auth, block=False)
    shown_host = "localhost" if host in ("0.0.0.0", "::") else host
    say(f"The page is on http://{shown_host}:{demo.server_port}/ (Ctrl-C stops it)"
        + ("; login required" if auth else ""))
    if block:
        try:
            while demo.is_running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            say("Stopping the page.")
        finally:
            demo.close()
    return demo
