"""Byte streams of log files: decompression, and the SHA-256 of the bytes as stored.

Every reader takes its bytes through :class:`Stream`, which hashes the stored (compressed)
bytes as they go by, so that a file is read once and its digest is the one a run manifest
records. This module knows no format and no field name; it must never hold more than one
read block of a file.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Self

import pyarrow as pa

from detector import schema
from detector.errors import InputError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: a file name ending that means gzip
GZIP = ".gz"
#: bytes read from disk at a time
RAW_READ_BYTES = 4 << 20
#: a UTF-8 byte-order mark, which readers skip at the start of a file
BOM = b"\xef\xbb\xbf"


class HashingReader(io.RawIOBase):
    """A read-only file that feeds every byte it hands out to a hash."""

    def __init__(self, handle: io.BufferedReader, hasher: hashlib._Hash) -> None:
        self._handle = handle
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self._handle.readinto(buffer)
        if n:
            self._hasher.update(memoryview(buffer)[:n])
        return n

    def drain(self) -> None:
        """Hash whatever the decoder left unread (bytes after the gzip stream)."""
        for block in iter(lambda: self._handle.read(1 << 20), b""):
            self._hasher.update(block)

    def close(self) -> None:
        self._handle.close()
        super().close()


class Stream:
    """The decompressed bytes of a file, hashing the stored bytes as they are read."""

    def __init__(self, path: Path, hasher: hashlib._Hash | None = None) -> None:
        self.path = path
        self._raw = HashingReader(open(path, "rb"), hasher if hasher is not None else hashlib.sha256())  # noqa: SIM115 - closed by close()
        # large reads: each one takes the GIL, which the validating thread mostly holds
        native = pa.BufferedInputStream(pa.PythonFile(self._raw, mode="r"), buffer_size=RAW_READ_BYTES)
        if path.name.lower().endswith(GZIP):
            self.stream = pa.CompressedInputStream(native, "gzip")
        else:
            self.stream = native

    def read(self, n: int) -> bytes:
        try:
            data: bytes = self.stream.read(n)  # pyarrow NativeFile.read gives bytes
            return data
        except (OSError, pa.ArrowException) as exc:
            raise unreadable(self.path, exc) from exc

    def finish(self) -> None:
        self._raw.drain()

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def unreadable(path: Path, exc: BaseException) -> InputError:
    """The InputError for bytes that cannot be read or decompressed, naming the file."""
    detail = gzip_detail(str(exc).strip() or type(exc).__name__)
    return InputError(f"cannot read file: {detail}", file=str(path))


def gzip_detail(detail: str) -> str:
    """An error text, saying so when it comes from a corrupt or truncated gzip stream."""
    if any(word in detail for word in ("Truncated", "incorrect header", "inflate")):
        return f"corrupt or truncated gzip: {detail}"
    return detail


def raw_text(text: str) -> str:
    """A record's text as a reject keeps it (:func:`detector.schema.raw_text`): characters no
    store keeps escaped, cut to :data:`~detector.schema.RAW_KEEP` characters."""
    return schema.raw_text(text)


def sha256_of(path: Path) -> hashlib._Hash:
    """A SHA-256 hasher fed with a file's bytes as stored, read in blocks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes as stored, read in blocks (the digest run manifests record)."""
    return sha256_of(Path(path)).hexdigest()
