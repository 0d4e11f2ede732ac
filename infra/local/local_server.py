"""What both local servers (moto, localstripe) share: their command line, which only ever binds
loopback, and ending when the process that started them is gone, so a test run or `make run`
that dies never leaves a server behind."""

import argparse
import os
import threading
import time


def exit_with(parent_pid: int) -> None:
    """Watches `parent_pid` on a daemon thread and exits this process once it is gone."""

    def watch() -> None:
        while True:
            try:
                os.kill(parent_pid, 0)
            except OSError:
                os._exit(0)
            time.sleep(1)

    threading.Thread(target=watch, daemon=True).start()


def server_arguments(description: str, port: int, extra=()) -> argparse.Namespace:
    """`--host` (loopback only), `--port`, `--parent-pid` (watched) and `--quiet`, and any
    `extra` `(flag, options)` of the server's own."""
    parser = argparse.ArgumentParser(description=description)
    for flag, options in extra:
        parser.add_argument(flag, **options)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the local stack listens on loopback only")
    if args.parent_pid:
        exit_with(args.parent_pid)
    return args
