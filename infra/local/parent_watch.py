"""Ends a local server when the process that started it is gone, so a test run or `make run`
that dies never leaves a server behind."""

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
