"""`unclaimed serve`: its arguments, and starting uvicorn on them.

The socket is bound here (``--port 0`` takes a free port) and the URL printed before
uvicorn starts; with ``--workers N`` the bound socket is handed to uvicorn's worker
processes, each building the application from ``UNCLAIMED_SERVE_CONFIG``.
"""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path
from typing import Any, TextIO

from evaluator.errors import one_line


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("serve", help="an HTTP decision service and the workbench",
                        description="Serve evaluate, check, compare and the policies over "
                        "HTTP (OpenAPI at /openapi.json, the workbench at /).")
    sp.add_argument("--policies", help="policies folder (default: the shipped policies); "
                    "PUT /v1/policies/{id} writes only inside it")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    sp.add_argument("--workers", type=int, default=1, help="worker processes")
    sp.add_argument("--decision-log", dest="decision_log", metavar="FILE",
                    help="append one decision record per evaluation, as a JSON line")
    sp.add_argument("--read-only", dest="read_only", action="store_true",
                    help="refuse PUT /v1/policies/{id}")
    sp.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                    help="most seconds one request's evaluation may take (then 503)")
    sp.add_argument("--max-body", type=int, default=10 * 1024 * 1024, dest="max_body",
                    metavar="BYTES", help="largest request body (default 10 MiB)")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import uvicorn

    from evaluator.apps.serve.app import CONFIG_ENV, Config, create_app
    from evaluator.apps.serve.limits import Limits

    if args.policies is not None and not Path(args.policies).is_dir():
        print(f"error: --policies {one_line(args.policies)}: not a folder", file=err)
        return 2
    if args.workers < 1 or not 0 <= args.port <= 65535 or args.timeout <= 0 \
            or args.max_body < 1:
        print("error: --workers, --timeout and --max-body must be positive and --port "
              "within 0-65535", file=err)
        return 2
    policies = str(Path(args.policies).resolve()) if args.policies else None
    config = Config(policies, os.path.abspath(args.decision_log) if args.decision_log
                    else None, args.read_only,
                    Limits(body_bytes=args.max_body, seconds=args.timeout))
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)
    except OSError as exc:
        print(f"error: cannot listen on {one_line(args.host)}:{args.port}: "
              f"{exc.strerror or exc}", file=err)
        return 2
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"unclaimed serve: http://{shown}:{port}/ (policies: "
          f"{policies or 'shipped'}; {args.workers} worker"
          f"{'s' if args.workers != 1 else ''})", file=out, flush=True)
    if args.workers == 1:
        app = create_app(config)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                               timeout_keep_alive=5))
        server.run(sockets=[sock])
        return 0
    os.environ[CONFIG_ENV] = config.to_env()
    os.set_inheritable(sock.fileno(), True)
    uvicorn.run("evaluator.apps.serve.app:app_from_environment", factory=True,
                fd=sock.fileno(), workers=args.workers, log_level="warning",
                access_log=False, timeout_keep_alive=5)
    return 0
