"""Files that hold personal data or secrets (the embedded Redis's AOF and RDB, the demo's stack file and logs) are
readable by their owner only: directories 0700, files 0600, whatever the process's umask.

`private_dir` creates a directory 0700 (and tightens one that exists); `open_private` creates or opens a file 0600;
`write_private` writes one; `restrict_tree` tightens what an older run left behind (0644 files, 0755 directories).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (parents created as usual)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def open_private(path: Path, mode: str = "ab") -> IO[bytes]:
    """`path` opened in binary `mode` ("ab" or "wb"), created 0600 (an existing file is tightened to 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)


def write_private(path: Path, text: str) -> None:
    with open_private(path, "wb") as handle:
        handle.write(text.encode())


def restrict_tree(path: Path) -> None:
    """Every file under `path` 0600 and every directory 0700."""
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, 0o600)
