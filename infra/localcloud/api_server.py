"""`python -m infra.localcloud.api_server`: `chalice local` with one described line per request.

The same server `chalice local --no-autoreload` runs (chalice's own local gateway, the app
loaded from the current folder with the stage's configuration, root logging to stdout at INFO),
except that each request, instead of the standard library's access line on stderr, prints one
marked JSON line on stdout (`console.request_line`): who called (from the bearer token's
claims, never the token), what, the status and the milliseconds. `make run`'s console reads
them from this process's output and prints them (`infra.localcloud.console`).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from typing import Any

from chalice.local import ChaliceRequestHandler

from infra.localcloud.console import request_line
from infra.localcloud.gateway import answer_as_the_gateway_does


class DescribedRequestHandler(ChaliceRequestHandler):
    """chalice's request handler, describing each request in one line on stdout."""

    _status: int | str = "no answer"

    def _generic_handle(self) -> None:
        started, began = time.time(), time.perf_counter()
        try:
            super()._generic_handle()
        except Exception as error:
            self._status = type(error).__name__
            raise
        finally:
            ms = (time.perf_counter() - began) * 1000
            print(request_line(self.command, self.path, self.headers.get("Authorization"),
                               self._status, started, ms), flush=True)

    # `do_GET`... are bound to chalice's `_generic_handle` in its class body: bind ours.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        # The request's line is printed above, with more in it than the access line.
        pass


def serve(host: str, port: int, stage: str) -> None:
    """Load the app in the current folder as `chalice local` does and serve until killed."""
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_routes
    from chalice.local import create_local_server

    # What `chalice local` does before serving (chalice.cli's `local` command).
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    factory = CLIFactory(os.getcwd(), False, environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    validate_routes(config.chalice_app.routes)
    answer_as_the_gateway_does()
    server = create_local_server(config.chalice_app, config, host, port)
    describe_requests(server, config)
    server.serve_forever()


def describe_requests(server: Any, config: Any) -> None:
    """Make a chalice `LocalDevServer` describe each request it serves from now on."""
    # The socket is bound already; what the server does per connection is ours from here on.
    server.server.RequestHandlerClass = functools.partial(
        DescribedRequestHandler, app_object=server.app_object, config=config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localcloud.api_server",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.stage)
    except KeyboardInterrupt:  # Ctrl-C at `make run` reaches its whole process group
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
