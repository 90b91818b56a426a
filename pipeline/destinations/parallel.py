"""One worker thread per destination, so that separate media are flushed and read back at the same time.

Each destination gets its own queue and thread: its jobs run one after the other, in the order given
(a file is committed before it is read back, and one USB key is never asked for two files at once),
while the other destinations work beside it. The threads are daemons: a run that dies does not wait
for a slow medium before its process can end.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future


class PerDestination:
    def __init__(self):
        self._queues: dict[str, queue.SimpleQueue] = {}
        self._lock = threading.Lock()  # two files of a run may be written at once, from two threads

    def submit(self, key: str, fn, *args) -> Future:
        fut: Future = Future()
        with self._lock:
            q = self._queues.get(key)
            if q is None:
                q = self._queues[key] = queue.SimpleQueue()
                threading.Thread(target=_work, args=(q,), name=f"coffre-destination-{len(self._queues)}",
                                 daemon=True).start()
        q.put((fut, fn, args))
        return fut

    def run_all(self, keys, fn, *args) -> dict[str, BaseException]:
        """Runs fn(key, *args) for every key at once (inline for a single key); returns the exceptions by key."""
        keys = list(keys)
        if len(keys) == 1:
            try:
                fn(keys[0], *args)
            except Exception as err:  # noqa: BLE001 - handed back to the caller, who names the destination
                return {keys[0]: err}
            return {}
        futures = {k: self.submit(k, fn, k, *args) for k in keys}
        errors = {}
        for k, fut in futures.items():
            err = fut.exception()
            if err is not None:
                errors[k] = err
        return errors

    def close(self) -> None:
        with self._lock:
            for q in self._queues.values():
                q.put(None)
            self._queues.clear()


def _work(q: queue.SimpleQueue) -> None:
    while (job := q.get()) is not None:
        fut, fn, args = job
        job = None  # hold nothing of a finished job while waiting for the next (its owner can then be freed)
        if fut.set_running_or_notify_cancel():
            try:
                fut.set_result(fn(*args))
            except BaseException as err:  # noqa: BLE001 - the caller decides what a failure means
                fut.set_exception(err)
        fut = fn = args = None
