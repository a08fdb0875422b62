"""Where PyBaMM's compiled models live, and one build of each per machine.

With ``solver.compile`` (and ``eis.compile``) PyBaMM's IDAKLU solver turns a model's functions into C and
builds a shared library with the system compiler (``pybamm.codegen.compilation``) at the model's first
solve: seconds for the SPM, minutes for the DFN. It names each library by a hash of the functions it
holds, keeps it in ``$PYBAMM_CASADI_AOT_CACHE`` (its default: ``$TMPDIR/pybamm_casadi_aot``) and loads it
from there in every later process. Its writes are atomic (a per-attempt file renamed into place), so
concurrent builds are safe, but every process builds what it does not find: workers started together
each compiled the same model.

The executor runs every task inside :func:`models_in`, which points that folder at the project's cache,
``$AGINGSET_CACHE_DIR/compiled/<cpu>`` (default ``.agingset-cache/compiled/<cpu>``; :func:`root` resolves
it where the tasks are submitted, :func:`directory` appends the worker's own CPU): one folder per CPU
type, because PyBaMM builds with ``-march=native`` and its hash does not name the CPU, so a folder shared
by different machines (a cluster's network file system) must not hand one CPU's build to another. A
``PYBAMM_CASADI_AOT_CACHE`` in a worker's environment wins; ``AGINGSET_CACHE_DIR`` set empty, or a root
this worker cannot write, leaves PyBaMM's default. Nothing is created until something compiles.

And inside a task a build holds an exclusive lock (``fcntl.flock``) on ``.locks/<hash>.lock`` in that
folder, the hash being PyBaMM's name for the library: a second worker that needs the same library waits
for the first one's build and then loads it (:func:`install_build_lock`). A library is the same whoever
builds it, so neither the folder nor the lock changes a result.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.abc
import importlib.machinery
import logging
import os
import platform
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from .cache import CACHE_DIR_ENV, DEFAULT_CACHE_DIR

log = logging.getLogger(__name__)

PYBAMM_ENV = "PYBAMM_CASADI_AOT_CACHE"
SUBDIR = "compiled"
LOCKS = ".locks"
_COMPILATION = "pybamm.codegen.compilation"
_MARK = "_agingset_build_lock"
# /proc/cpuinfo fields that decide what ``-march=native`` builds for (x86, then ARM).
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "flags", "CPU implementer", "CPU architecture",
               "CPU variant", "CPU part", "Features")  # fmt: skip

_state = threading.Lock()
_installing = threading.Lock()  # a second wrapper would wait for its own lock
_active = 0
_set_by_us = False


def root(environ: dict | None = None) -> str | None:
    """The compiled models' root, ``$AGINGSET_CACHE_DIR/compiled`` as an absolute path (resolved where the
    tasks are submitted, so workers in other directories share it); None when the cache is disabled."""
    environ = os.environ if environ is None else environ
    base = environ.get(CACHE_DIR_ENV, DEFAULT_CACHE_DIR)
    return str(Path(base).resolve() / SUBDIR) if base else None


@functools.cache
def cpu_tag() -> str:
    """This machine's CPU type as a folder name: the architecture and a hash of what the compiler's
    ``-march=native`` sees (/proc/cpuinfo's first processor; the processor name elsewhere)."""
    try:
        first = Path("/proc/cpuinfo").read_text(errors="replace").split("\n\n")[0]
        fields = [line for line in first.splitlines() if line.split(":")[0].strip() in _CPU_FIELDS]
        text = "\n".join(" ".join(line.split()) for line in fields)
    except OSError:
        text = platform.processor()
    return f"{platform.machine() or 'cpu'}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def directory(root_: str) -> Path:
    """This worker's folder of compiled models under ``root_``."""
    return Path(root_) / cpu_tag()


@contextlib.contextmanager
def models_in(root_: str | None) -> Iterator[None]:
    """Within the block, PyBaMM compiles into (and loads from) :func:`directory` of ``root_``, unless this
    process's environment names its own folder; builds take their lock (:func:`install_build_lock`).
    Nested and concurrent blocks (a worker's threads) share one setting; the last one out restores it."""
    global _active, _set_by_us
    if root_ is None:
        yield
        return
    with _state:
        if _active == 0:
            folder = directory(root_)
            _set_by_us = PYBAMM_ENV not in os.environ and _creatable(folder)
            if _set_by_us:
                os.environ[PYBAMM_ENV] = str(folder)
        _active += 1
    install_build_lock()
    try:
        yield
    finally:
        with _state:
            _active -= 1
            if _active == 0 and _set_by_us:
                os.environ.pop(PYBAMM_ENV, None)
                _set_by_us = False


@functools.cache  # once per folder and process: its warning too
def _creatable(folder: Path) -> bool:
    """Whether this process may create ``folder`` (or write in it), without creating it. Not: a path of
    the submitting machine that this worker cannot write; PyBaMM's default then, not a failed build
    (PyBaMM would fall back to casadi's virtual machine, which rounds differently)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        return True
    log.warning("compiled models cannot go to %s on this worker; using PyBaMM's default folder", folder)
    return False


def _pybamm_directory(kwargs: dict) -> Path:
    """Where PyBaMM builds: as ``pybamm.codegen.compilation._default_cache_dir`` decides."""
    import tempfile

    chosen = kwargs.get("cache_dir") or os.environ.get(PYBAMM_ENV)
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / "pybamm_casadi_aot"


def bundle_hash(functions) -> str | None:
    """PyBaMM's name for the library of ``functions`` (the casadi Functions it compiles into one: not
    those already External); None when there is nothing to compile."""
    digest = hashlib.sha1(usedforsecurity=False)
    found = False
    for function in functions:
        if function.class_name() == "External":
            continue
        found = True
        digest.update(function.name().encode())
        digest.update(b"\0")
        digest.update(function.serialize().encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16] if found else None


@contextlib.contextmanager
def build_lock(folder: Path, key: str) -> Iterator[None]:
    """Hold the exclusive lock of library ``key`` in ``folder`` (released when the process dies).
    Without ``fcntl`` or a file system that locks, no lock: each process then builds, as PyBaMM does."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    try:
        (folder / LOCKS).mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCKS / f"{key}.lock", "a+b")  # noqa: SIM115 - closed below
    except OSError as err:
        log.debug("no build lock for %s in %s: %s", key, folder, err)
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as err:  # e.g. ENOLCK on a network file system without locks
            log.debug("no build lock for %s in %s: %s", key, folder, err)
        yield
    finally:
        handle.close()  # releases the lock


def install_build_lock() -> bool:
    """Make PyBaMM's compiles (``pybamm.codegen.compilation._aot_compile``, every caller's path to the
    compiler) take :func:`build_lock` of their library, in this process; once. When PyBaMM is not loaded
    yet, at its import (:class:`_AtImport`): a process that never solves never loads it. False when not
    (yet) installed, or when PyBaMM has no such function (then builds are unlocked, as PyBaMM's own)."""
    with _installing:
        if _COMPILATION in sys.modules:
            return _install()
        if not any(isinstance(finder, _AtImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, _AtImport())
        return False


class _AtImport(importlib.abc.MetaPathFinder):
    """Installs the build lock right after ``pybamm.codegen.compilation`` is imported, then steps aside."""

    def find_spec(self, name, path, target=None):
        if name != _COMPILATION:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            with _installing:
                _install()

        spec.loader.exec_module = exec_module
        return spec


def _install() -> bool:
    compilation = sys.modules.get(_COMPILATION)
    if compilation is None:
        return False
    original = getattr(compilation, "_aot_compile", None)
    if original is None:
        log.debug("%s has no _aot_compile: compiled models are built without a lock", _COMPILATION)
        return False
    if getattr(original, _MARK, False):
        return True

    @functools.wraps(original)
    def locked(functions, **kwargs):
        key = bundle_hash(functions) if _active else None  # inside agingset's tasks only
        if key is None:
            return original(functions, **kwargs)
        with build_lock(_pybamm_directory(kwargs), key):
            return original(functions, **kwargs)

    setattr(locked, _MARK, True)
    compilation._aot_compile = locked
    return True
