"""The on-disk cache of compiled kernels: fastnet's own folder, keyed by the kernel sources and versions, locked across processes.

Numba's own ``cache=True`` stores each function next to its source (or in one user-wide folder
shared with every other Numba program) and keys it by that one file's contents only. fastnet
keeps its own cache instead, through Numba's cache classes:

* **Where:** ``FASTNET_CACHE_DIR`` if set, else the user cache folder (``$XDG_CACHE_HOME/fastnet``
  or ``~/.cache/fastnet`` on Linux, ``~/Library/Caches/fastnet`` on macOS,
  ``%LOCALAPPDATA%\\fastnet\\Cache`` on Windows). ``FASTNET_CACHE=0`` turns it off (in memory only).
* **Key:** one subfolder per hash of every ``.py`` file of ``fastnet.kernels`` (a kernel inlines
  helpers from other files, so all of them count) plus the fastnet, Numba, llvmlite, NumPy and
  Python versions and the Numba settings that change generated code. Editing any kernel file or
  upgrading a library starts a new subfolder; the :data:`KEEP_KEYS` most recently used are kept,
  and others only until they have gone unused for :data:`PRUNE_AFTER_S` (a week).
  Inside a key, Numba's index also keys each entry by signature and CPU (name and features).
* **Locking:** every kernel's compile (cache look-up, compilation, store) holds that kernel's file
  lock, so processes starting together on an empty cache compile each kernel once, no two writers
  race on an index, and a process wanting a kernel that another is compiling waits and loads it.
  Different kernels compile in parallel (``fastnet.compile()`` uses this). A kernel's helpers are
  compiled inside it, never the other way round, so nested locks cannot deadlock.
* **Checked files:** every index and data file carries a magic line and a SHA-256 of its payload;
  every data file carries its index key (signature, CPU, bytecode hash), and the entry is checked
  to belong to the function and signature asked for. A truncated,
  corrupt or foreign file is discarded (one warning) and the kernel recompiled.
* **Failures never stop a program:** an unwritable, read-only or full location gives one warning,
  then kernels compile in memory, as with ``FASTNET_CACHE=0``.
"""

import glob
import hashlib
import inspect
import json
import os
import pickle
import platform
import re
import shutil
import sys
import threading
import time
import warnings

import llvmlite
import numba
import numpy as np
from numba.core import caching, config as numba_config, serialize, sigutils
from numba.core.compiler_lock import global_compiler_lock

#: How many cache keys (one per combination of kernel sources and versions) to keep on disk ...
KEEP_KEYS = 3
#: ... and how long a key beyond those stays after its last use, so that no key is deleted under
#: a process still using it (several fastnet versions or source trees at once share the folder).
PRUNE_AFTER_S = 7 * 24 * 3600
#: Seconds a process waits for another one's compilation before it compiles without the cache.
LOCK_TIMEOUT = 600.0

_MAGIC = b"fastnet kernel cache 1\n"
_DIGEST = 32
_KEY_FILE = "KEY.json"
_KERNELS_DIR = os.path.dirname(os.path.abspath(__file__))


class CacheWarning(UserWarning):
    """The kernel cache could not be used as asked (kernels then compile in memory)."""


def _enabled_by_environment():
    return os.environ.get("FASTNET_CACHE", "1").strip().lower() not in ("0", "false", "no", "off", "")


def default_root():
    """The cache folder before keying: ``FASTNET_CACHE_DIR`` or the platform's user cache folder."""
    explicit = os.environ.get("FASTNET_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    from numba.misc.appdirs import AppDirs
    return AppDirs(appname="fastnet", appauthor=False).user_cache_dir


def _kernel_sources():
    """(relative path, bytes) of every .py file of fastnet.kernels, in a fixed order."""
    out = []
    for path in sorted(glob.glob(os.path.join(_KERNELS_DIR, "**", "*.py"), recursive=True)):
        with open(path, "rb") as f:
            out.append((os.path.relpath(path, _KERNELS_DIR).replace(os.sep, "/"), f.read()))
    return out


def _fastnet_version():
    package = sys.modules.get(__name__.rsplit(".", 2)[0])
    version = getattr(package, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version
            version = dist_version("fastnet")
        except Exception:  # not installed as a distribution
            version = "unknown"
    return version


def key_inputs():
    """Everything the cache key hashes, as a dict (the sources as one SHA-256)."""
    sources = hashlib.sha256()
    for name, content in _kernel_sources():
        sources.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return {
        "kernel_sources_sha256": sources.hexdigest(),
        "fastnet": _fastnet_version(),
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "numpy": np.__version__,
        "python": platform.python_version() + getattr(sys, "abiflags", ""),
        "implementation": sys.implementation.name,
        # Numba settings that change the generated code (the CPU name and features are part of
        # every index entry's key already; they are listed here for `fastnet cache info`).
        "numba_opt": str(numba_config.OPT),
        "numba_boundscheck": str(numba_config.BOUNDSCHECK),
        "numba_debuginfo": str(numba_config.DEBUGINFO_DEFAULT),
        "numba_cpu_name": str(numba_config.CPU_NAME),
        "numba_cpu_features": str(numba_config.CPU_FEATURES),
    }


def compute_key(inputs=None):
    """The cache key: 16 hex digits of a SHA-256 over :func:`key_inputs`."""
    inputs = key_inputs() if inputs is None else inputs
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _is_key_name(name):
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


class KernelBusy(Exception):
    """Another process is compiling this kernel (raised only with ``STATE.defer_busy``; Numba may
    wrap it in a TypingError when the kernel is a callee, hence ``STATE.deferred``)."""


class _State:
    """The process-wide state of the cache: settings, the key, lazy set-up, warnings, compile time."""

    def __init__(self):
        self.defer_busy = False   # raise KernelBusy instead of waiting for another process's lock
        self.deferred = False     # ... and whether that happened (the helper resets it)
        self.enabled = _enabled_by_environment()
        self.root = default_root()
        self.inputs = key_inputs()
        self.key = compute_key(self.inputs)
        self.dir = os.path.join(self.root, self.key)
        self.reason = None if self.enabled else "off (FASTNET_CACHE=0)"
        self._ready = False
        self._warned = set()
        self.depth = 0               # nesting of kernel compiles (guarded by the compiler lock)
        self.compile_seconds = 0.0   # wall time spent in outermost kernel compiles, loads included

    def warn_once(self, tag, message):
        if tag not in self._warned:
            self._warned.add(tag)
            warnings.warn(message, CacheWarning, stacklevel=4)

    def disable(self, reason, exc=None):
        self.enabled = False
        self.reason = reason
        detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        self.warn_once("disabled", f"fastnet: kernel cache {reason}{detail}; compiling kernels in memory "
                       "only. Set FASTNET_CACHE_DIR to a writable folder, or FASTNET_CACHE=0 to silence this.")

    def usable(self):
        """Make the key's folder on first use; False (after one warning) where that fails."""
        if not self.enabled:
            return False
        if self._ready:
            return True
        try:
            os.makedirs(self.dir, exist_ok=True)
            key_file = os.path.join(self.dir, _KEY_FILE)
            if not os.path.exists(key_file):
                _write_atomic(key_file, json.dumps(dict(self.inputs, key=self.key), indent=1, sort_keys=True).encode())
            # the folder must be writable, not only exist (a read-only mount passes makedirs); the
            # marker's time is the key's last use, for pruning (a touch: no rename, no fsync)
            with open(os.path.join(self.dir, "last_used"), "ab"):
                pass
            os.utime(os.path.join(self.dir, "last_used"))
        except OSError as exc:
            self.disable(f"at {self.dir} is not writable", exc)
            return False
        self._ready = True
        prune(self.root, keep=KEEP_KEYS, current=self.key)
        return True

    def lock(self, name):
        """The cross-process lock of one kernel (its index and data files, and its compilation)."""
        from filelock import FileLock
        return FileLock(os.path.join(self.dir, f"{name}.lock"), thread_local=False)

    def acquire(self, lock):
        """Take a kernel's lock; False (compile it without storing) after LOCK_TIMEOUT or an error.

        With ``defer_busy`` set (fit's compile helper, fastnet/_warm.py) a lock that another
        process holds raises :class:`KernelBusy` at once, and ``deferred`` records it."""
        from filelock import Timeout
        try:
            lock.acquire(timeout=0 if self.defer_busy else LOCK_TIMEOUT)
        except Timeout:
            if self.defer_busy:
                self.deferred = True
                raise KernelBusy(lock.lock_file) from None
            self.warn_once("timeout", f"fastnet: waited {LOCK_TIMEOUT:.0f} s for another process's kernel "
                           f"compilation ({lock.lock_file}); compiling in memory without the cache")
            return False
        except OSError as exc:
            self.disable(f"lock at {self.dir} cannot be taken", exc)
            return False
        return True


def _write_atomic(path, data):
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


STATE = _State()


# -- Numba's cache classes, pointed at fastnet's folder and checked --------------------------------

class _CorruptEntry(Exception):
    pass


def _verified(blob, path):
    head = len(_MAGIC) + _DIGEST
    if len(blob) < head or not blob.startswith(_MAGIC):
        raise _CorruptEntry(f"{os.path.basename(path)}: not a fastnet cache file")
    payload = blob[head:]
    if hashlib.sha256(payload).digest() != blob[len(_MAGIC):head]:
        raise _CorruptEntry(f"{os.path.basename(path)}: checksum mismatch (truncated or corrupt)")
    return payload


class _CheckedCacheFile(caching.IndexDataCacheFile):
    """Numba's index + data files, each with a magic line and a SHA-256 of its payload."""

    def _dump(self, obj):
        payload = serialize.dumps(obj)
        return _MAGIC + hashlib.sha256(payload).digest() + payload

    def _read(self, path):
        with open(path, "rb") as f:
            return pickle.loads(_verified(f.read(), path))

    def _load_index(self):
        try:
            version, stamp, overloads = self._read(self._index_path)
        except FileNotFoundError:
            return {}
        if version != self._version or stamp != self._source_stamp:
            return {}
        return overloads

    def _save_index(self, overloads):
        with self._open_for_write(self._index_path) as f:
            f.write(self._dump((self._version, self._source_stamp, overloads)))

    def _load_data(self, name):
        return self._read(self._data_path(name))

    def save(self, key, data):
        try:
            overloads = self._load_index()
        except Exception:  # noqa: BLE001 - an unreadable index is replaced (under this kernel's lock)
            overloads = {}
        data_name = overloads.get(key)
        if data_name is None:
            existing = set(overloads.values())
            number = 1
            while self._data_name(number) in existing:
                number += 1
            data_name = overloads[key] = self._data_name(number)
            self._save_index(overloads)
        # the entry carries its own key: an index and a data file that disagree (two writers of
        # different signatures racing on one file name) are found on load, not run
        self._save_data(data_name, (key, data))

    def load(self, key):
        overloads = self._load_index()
        data_name = overloads.get(key)
        if data_name is None:
            return None
        try:
            stored_key, data = self._load_data(data_name)
        except FileNotFoundError:   # removed while the index still refers to it
            return None
        if stored_key != key:
            raise _CorruptEntry(f"{data_name}: an entry of another function, signature or CPU")
        return data

    def discard(self):
        """Delete this function's index and data files."""
        base = self._index_name[:-len(".nbi")]
        for path in [self._index_path] + glob.glob(os.path.join(glob.escape(self._cache_path), glob.escape(base) + ".*.nbc")):
            try:
                os.unlink(path)
            except OSError:
                pass


class _Locator(caching._CacheLocator):
    """Every kernel lives in the current key's folder; the key stands for all kernel sources."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    def ensure_cache_path(self):
        if not STATE.usable():
            raise OSError(f"the kernel cache at {STATE.dir} is not usable: {STATE.reason}")

    def get_cache_path(self):
        return STATE.dir

    def get_source_stamp(self):
        return STATE.key

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _Impl(caching.CompileResultCacheImpl):
    # Numba's CacheImpl.__init__ would pick a locator from its own list (or NUMBA_CACHE_LOCATOR_CLASSES).
    def __init__(self, py_func):
        self._lineno = py_func.__code__.co_firstlineno
        self._locator = _Locator(py_func, inspect.getfile(py_func))
        fullname = f"{py_func.__module__.rsplit('.', 1)[-1]}.{py_func.__qualname__}"
        self._filename_base = self.get_filename_base(fullname, getattr(sys, "abiflags", ""))


class KernelCache(caching.Cache):
    """The on-disk cache of one kernel (a Numba dispatcher's ``_cache``)."""

    _impl_class = _Impl

    def __init__(self, py_func):
        super().__init__(py_func)
        self.lock = STATE.lock(self._impl.filename_base)   # the file is made at the first acquire
        self.locked = False
        self._cache_file = _CheckedCacheFile(cache_path=self._cache_path, filename_base=self._impl.filename_base,
                                             source_stamp=self._impl.locator.get_source_stamp())

    def _discard(self, reason):
        STATE.warn_once(("discard", self._name), f"fastnet: discarded the cached {self._py_func.__qualname__} "
                        f"kernel ({reason}); compiling it again")
        self._cache_file.discard()

    def _belongs(self, cres, sig):
        args, _ = sigutils.normalize_signature(sig)
        return (cres.fndesc.qualname == self._py_func.__qualname__
                and cres.fndesc.modname == self._py_func.__module__
                and tuple(cres.signature.args) == tuple(args))

    def load_overload(self, sig, target_context):
        if not STATE.usable():
            return None
        try:
            cres = super().load_overload(sig, target_context)
        except Exception as exc:  # noqa: BLE001 - any unreadable entry means: compile again
            self._discard(f"{type(exc).__name__}: {exc}")
            return None
        if cres is not None and not self._belongs(cres, sig):
            self._discard("an entry of another function, signature or CPU")
            return None
        return cres

    def save_overload(self, sig, data):
        if not STATE.usable() or not self.locked:
            return
        try:
            super().save_overload(sig, data)
        except OSError as exc:  # disk full, folder removed, permissions changed
            STATE.disable(f"at {STATE.dir} cannot be written", exc)


# -- attaching the cache to a dispatcher -----------------------------------------------------------

def attach(dispatcher, dtype_free=False):
    """Give a Numba dispatcher fastnet's on-disk cache and the cross-process compile lock.

    ``dtype_free``: the kernel's arrays are float64 whatever the data's dtype (an accumulator
    helper), so its entries do not count in :func:`has_entries`.

    The cache object is made now (it only computes file names); the folder is made, checked and
    pruned at the first compilation. Every compile is also timed (:func:`compile_seconds`).
    """
    if dtype_free:
        DTYPE_FREE.add(dispatcher.py_func.__module__.rsplit(".", 1)[-1] + "." + dispatcher.py_func.__qualname__)
    if STATE.enabled:
        dispatcher._cache = KernelCache(dispatcher.py_func)
    compile_in_process = dispatcher.compile

    def compile(sig):
        with global_compiler_lock:   # before the file lock: one order for both locks
            outermost = STATE.depth == 0
            STATE.depth += 1
            start = time.perf_counter()
            cache = dispatcher._cache
            locked = False
            try:
                locked = (isinstance(cache, KernelCache) and not cache.locked and STATE.usable()
                          and STATE.acquire(cache.lock))
                if locked:
                    cache.locked = True
                return compile_in_process(sig)
            finally:
                if locked:
                    cache.locked = False
                    cache.lock.release()
                STATE.depth -= 1
                if outermost:
                    STATE.compile_seconds += time.perf_counter() - start

    compile.__doc__ = compile_in_process.__doc__
    dispatcher.compile = compile
    return dispatcher


def compile_seconds():
    """Wall seconds this process has spent compiling (or loading) kernels so far."""
    return STATE.compile_seconds


# -- what is in the cache --------------------------------------------------------------------------

def entries(directory=None):
    """[(kernel, signature)] stored under one key's folder (default: the current key)."""
    directory = STATE.dir if directory is None else directory
    out = []
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), "*.nbi"))):
        name = os.path.basename(path).split("-")[0]
        try:
            with open(path, "rb") as f:
                _version, _stamp, overloads = pickle.loads(_verified(f.read(), path))
        except Exception:  # noqa: BLE001 - unreadable: listed as such, discarded when next used
            out.append((name, "<unreadable>"))
            continue
        out.extend((name, "(" + ", ".join(str(t) for t in key[0]) + ")") for key in overloads)
    return out


_known_warm = set()
DTYPE_FREE = set()   # entry names (as in entries()) of the kernels attached with dtype_free=True


def has_entries(dtype):
    """Whether the current key holds any kernel compiled for ``dtype`` (False when the cache is off):
    one whose first array argument has that dtype, not counting the float64 accumulator helpers
    (``DTYPE_FREE``): float32 kernels take float64 scalars and accumulators, which do not make the
    float64 kernels warm.

    Reads the index files until the answer is yes, then remembers it for this process."""
    name = np.dtype(dtype).name
    if name in _known_warm:
        return True
    if not STATE.enabled or not os.path.isdir(STATE.dir):
        return False
    if any(kernel not in DTYPE_FREE and _first_array_dtype(signature) == name for kernel, signature in entries()):
        _known_warm.add(name)
        return True
    return False


def _first_array_dtype(signature):
    """'float32' for a signature text like '(array(float32, 4d, C), int64, ...)'; None without arrays."""
    found = re.search(r"array\((\w+),", signature)
    return found.group(1) if found else None


def folder_size(path):
    total = 0
    for base, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(base, f))
            except OSError:
                pass
    return total


def keys(root=None):
    """[(key, folder, last-used time)] of the keys under ``root``, newest first."""
    root = STATE.root if root is None else root
    out = []
    try:
        names = os.listdir(root)
    except OSError:
        return out
    for name in names:
        folder = os.path.join(root, name)
        if _is_key_name(name) and os.path.isfile(os.path.join(folder, _KEY_FILE)):
            marker = os.path.join(folder, "last_used")
            try:
                used = os.path.getmtime(marker if os.path.exists(marker) else folder)
            except OSError:
                continue
            out.append((name, folder, used))
    return sorted(out, key=lambda t: t[2], reverse=True)


def prune(root, keep=KEEP_KEYS, current=None, after=PRUNE_AFTER_S):
    """Delete the keys under ``root`` beyond the ``keep`` most recently used ones that have not
    been used for ``after`` seconds (never ``current``). A key in use is never deleted: its lock
    files would go with it, and a process making the folder again would lock other files."""
    removed = []
    for name, folder, used in keys(root)[keep:]:
        if name != current and time.time() - used > after:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(name)
    return removed


def clear(root=None):
    """Delete every fastnet cache key under ``root`` (default: the current root); returns the count."""
    found = keys(root)
    for _, folder, _ in found:
        shutil.rmtree(folder, ignore_errors=True)
    return len(found)


def describe():
    """A dict for ``fastnet cache info`` and ``fastnet.info()``: folder, key, state, size, entries."""
    exists = os.path.isdir(STATE.dir)
    stored = entries() if exists else []
    if not STATE.enabled:
        state = STATE.reason or "off"
    elif not exists or not stored:
        state = "on, empty for this key (the next run compiles and stores)"
    else:
        state = "on"
    return {
        "cache_dir": STATE.root,
        "cache_key": STATE.key,
        "cache_state": state,
        "cache_entries": len(stored),
        "cache_size_bytes": folder_size(STATE.dir) if exists else 0,
        "cache_other_keys": [k for k, _, _ in keys() if k != STATE.key],
    }


# -- telling the user that a run is about to compile -----------------------------------------------

#: Seconds a cold first epoch of ``fastnet train`` spends compiling on a 2-core development
#: machine (float32 and float64 alike); used until this machine has measured its own. Measured:
#: 22.9-25.4 s on Zen 4 (AVX-512, 2026-12-05/06); on a busy Zen 3 VM (AVX2, 2026-12-06) 27-39 s,
#: then 25.6-27.7 s once the compile helper took the convolutions' weight gradients first
#: (fastnet/_warm.py). It was 16 s, measured on Zen 5 on 2026-12-02 with fewer kernels. On Zen 4
#: on 2026-12-07, once the parfor wrappers were linked only (kernels/_link_only.py): 17.2-19.8 s.
DEFAULT_COMPILE_ESTIMATE_S = 20.0
_TIMINGS_FILE = "compile_seconds.json"
_announced = set()


def _timings_path():
    return os.path.join(STATE.root, _TIMINGS_FILE)


def expected_compile_seconds(dtype):
    """This machine's last measured cold compile of a training run for ``dtype`` (else the default)."""
    try:
        with open(_timings_path()) as f:
            return float(json.load(f)[np.dtype(dtype).name])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_COMPILE_ESTIMATE_S


def record_compile_seconds(dtype, seconds):
    """Remember how long a cold training run compiled (for the next key's estimate)."""
    if not STATE.usable():
        return
    path = _timings_path()
    try:
        with open(path) as f:
            timings = json.load(f)
    except (OSError, ValueError):
        timings = {}
    timings[np.dtype(dtype).name] = round(float(seconds), 1)
    try:
        _write_atomic(path, json.dumps(timings).encode())
    except OSError:
        pass


def announce_compile(dtype, stream=None):
    """Say once per process and dtype, on stderr, that kernels are about to compile (a cold cache).

    Returns True when the cache holds no kernel for ``dtype`` (the message was or had been printed)."""
    name = np.dtype(dtype).name
    if name in _announced:
        return True
    if has_entries(name):
        return False
    _announced.add(name)
    stream = sys.stderr if stream is None else stream
    seconds = expected_compile_seconds(name)
    where = (f"later runs load them from {STATE.root}" if STATE.enabled
             else f"kernel cache {STATE.reason}: every process compiles again")
    print(f"fastnet: compiling kernels for {name}, first run only: about {seconds:.0f} s ({where})",
          file=stream, flush=True)
    return True
