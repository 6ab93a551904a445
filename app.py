#!/usr/bin/env python3
"""The web page: `python app.py [--host 127.0.0.1] [--port 7860] [--auth user:password]`.

The same as `qa serve` (same options, same messages and exit codes): the model and index load once,
the index is built first when it is missing or stale, and the page is served on 127.0.0.1 only
unless --host says otherwise. The page itself is built in qa/web.py (see docs/web.md).
"""

import sys

from qa.cli import serve_command

if __name__ == "__main__":
    serve_command.main(args=sys.argv[1:], prog_name="app.py")
