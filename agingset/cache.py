"""Per-sample result cache: a finished sample is never solved twice.

An entry is one directory named by the sample's key (a hash of everything its result
depends on: the task, the solver code, the package versions). It holds one parquet file
per result table and a manifest with each file's SHA-256, so a truncated or bit-flipped
entry is detected and recomputed instead of being read as data. Entries are written to a
temporary sibling and renamed, so an interrupted run leaves whole entries or none.
Parquet only: nothing at rest is unpickled.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pandas as pd

from .catalog import CACHE_KEY_PACKAGES

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "AGINGSET_CACHE_DIR"
DEFAULT_CACHE_DIR = ".agingset-cache"
_MANIFEST = "manifest.json"
# A result is a DataFrame or a mapping of table name -> DataFrame; a bare frame is stored
# under this name and handed back bare.
_BARE = "_frame"


def code_fingerprint(paths: Iterable[Path]) -> str:
    """Hash of the given source files and of the numerical packages' versions."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for package in CACHE_KEY_PACKAGES:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{package}=={version}".encode())
    return digest.hexdigest()


def entry_key(namespace: str, token: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{namespace}\0{token}\0{fingerprint}".encode()).hexdigest()


def encode(result: pd.DataFrame | dict[str, pd.DataFrame]) -> dict[str, bytes]:
    tables = {_BARE: result} if isinstance(result, pd.DataFrame) else result
    encoded = {}
    for name, frame in tables.items():
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        encoded[name] = buffer.getvalue()
    return encoded


def decode_table(encoded: dict[str, bytes], name: str | None = None) -> pd.DataFrame:
    """One table of an encoded result (``name`` None: a result that is one frame)."""
    return pd.read_parquet(io.BytesIO(encoded[_BARE if name is None else name]))


class _LazyTables(Mapping):
    """The tables of an encoded result, each decoded when read."""

    def __init__(self, encoded: dict[str, bytes]):
        self._encoded = encoded

    def __getitem__(self, name: str) -> pd.DataFrame:
        return decode_table(self._encoded, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._encoded)

    def __len__(self) -> int:
        return len(self._encoded)


def decode_lazily(encoded: dict[str, bytes]) -> pd.DataFrame | Mapping[str, pd.DataFrame]:
    """:func:`decode`, but a result of several tables decodes a table only when it is read (a check of
    one small table then leaves the large ones encoded)."""
    return decode_table(encoded) if set(encoded) == {_BARE} else _LazyTables(encoded)


def decode(encoded: dict[str, bytes]) -> pd.DataFrame | dict[str, pd.DataFrame]:
    tables = {name: pd.read_parquet(io.BytesIO(data)) for name, data in encoded.items()}
    return tables[_BARE] if set(tables) == {_BARE} else tables


class ResultCache:
    def __init__(self, root: str | Path, namespace: str):
        self.directory = Path(root) / namespace

    @classmethod
    def from_env(cls, namespace: str) -> ResultCache | None:
        """The cache under ``$AGINGSET_CACHE_DIR`` (default ``.agingset-cache``); None if set empty."""
        root = os.environ.get(CACHE_DIR_ENV, DEFAULT_CACHE_DIR)
        return cls(root, namespace) if root else None

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def load(self, key: str) -> dict[str, bytes] | None:
        """The stored tables of ``key``, or None when absent or corrupt (then removed)."""
        entry = self._entry(key)
        if not entry.is_dir():
            return None
        try:
            manifest = json.loads((entry / _MANIFEST).read_text())
            tables = {}
            for name, expected in manifest["tables"].items():
                data = (entry / f"{name}.parquet").read_bytes()
                if hashlib.sha256(data).hexdigest() != expected:
                    raise ValueError(f"table {name!r} does not match its SHA-256")
                tables[name] = data
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("cache entry %s is corrupt (%s); recomputing it", entry, err)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        return tables

    def store(self, key: str, tables: dict[str, bytes]) -> None:
        entry = self._entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=entry.parent))
        try:
            for name, data in tables.items():
                (temporary / f"{name}.parquet").write_bytes(data)
            manifest = {"key": key, "tables": {name: hashlib.sha256(d).hexdigest() for name, d in tables.items()}}
            (temporary / _MANIFEST).write_text(json.dumps(manifest, sort_keys=True))
            shutil.rmtree(entry, ignore_errors=True)
            temporary.rename(entry)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
