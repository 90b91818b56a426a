"""A folder as a tar stream to pull from (pax, flat, owner-neutral), produced by a thread through a pipe."""

from __future__ import annotations

import os
import tarfile
import threading
from pathlib import Path


class TarStream:
    """Readable tar of `folder`'s regular files under `arcroot/`; memory stays at one pipe buffer."""

    def __init__(self, folder: Path, arcroot: str):
        self.files = sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())
        r, w = os.pipe()
        self.reader = os.fdopen(r, "rb")
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._produce, args=(w, arcroot), daemon=True)
        self.thread.start()

    def _produce(self, w: int, arcroot: str) -> None:
        try:
            with os.fdopen(w, "wb") as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for p in self.files:
                    info = tar.gettarinfo(str(p), arcname=f"{arcroot}/{p.name}")
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = 0o644
                    with open(p, "rb") as f:
                        tar.addfile(info, f)
        except BrokenPipeError:
            pass  # the reader stopped (a failed run); its own error is the one to report
        except BaseException as err:  # noqa: BLE001 - handed to the reading side
            self.error = err

    def read(self, n: int = -1) -> bytes:
        return self.reader.read(n)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.reader.close()
        self.thread.join()
        if self.error is not None:
            raise self.error
