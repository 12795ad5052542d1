"""Serve casemgr from the environment on a free port and print the port (for process tests)."""

from __future__ import annotations

import sys

from werkzeug.serving import make_server

from casemgr import create_app


def main() -> None:
    """Start one app server process, the way each of several app servers would run."""
    app = create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    sys.stdout.write(f"{server.server_port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
