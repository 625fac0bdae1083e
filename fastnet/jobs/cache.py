"""Inspect, fill or empty the on-disk kernel cache: ``fastnet cache info | warm | clear``.

``info``: the folder, the current key (a hash of the kernel sources and library versions), its
size and entries, and the other keys kept. ``warm [--dtype float32 ...] [--only OP]``: compile
every kernel into the cache now, with a progress bar (as ``fastnet.compile(verbose=True)``).
``clear``: delete every key under the folder. ``FASTNET_CACHE_DIR`` moves the folder;
``FASTNET_CACHE=0`` turns the cache off.
"""

import sys


def add_arguments(parser):
    parser.add_argument("action", choices=("info", "warm", "clear"), help="what to do (default: info)",
                        nargs="?", default="info")
    parser.add_argument("--dtype", action="append", choices=("float32", "float64"), default=None,
                        help="warm: the dtypes to compile (repeatable; default: float32 and float64)")
    parser.add_argument("--only", metavar="OP", default=None,
                        help="warm: only the op families whose name contains OP (e.g. conv2d, relu)")


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def run(args):
    from fastnet.kernels import _cache
    if args.action == "clear":
        removed = _cache.clear()
        print(f"fastnet cache: removed {removed} key folder(s) under {_cache.STATE.root}")
        return 0
    if args.action == "warm":
        if not _cache.STATE.enabled:
            print(f"fastnet cache: the cache is {_cache.STATE.reason}; nothing to warm", file=sys.stderr)
            return 2
        import fastnet
        fastnet.compile(dtypes=tuple(args.dtype or ("float32", "float64")), verbose=True, only=args.only)
        if not _cache.STATE.enabled:   # the folder turned out unwritable (warned)
            return 1
    info = _cache.describe()
    print(f"folder   {info['cache_dir']}")
    print(f"key      {info['cache_key']} (kernel sources and versions; see KEY.json in its folder)")
    print(f"state    {info['cache_state']}")
    print(f"size     {_size(info['cache_size_bytes'])} in {info['cache_entries']} entries")
    if info["cache_other_keys"]:
        print(f"older    {', '.join(info['cache_other_keys'])} (the {_cache.KEEP_KEYS} most recent keys are kept)")
    for kernel, signature in _cache.entries() if info["cache_entries"] else []:
        print(f"  {kernel}  {signature}")
    return 0
