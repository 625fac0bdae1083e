"""The on-disk kernel cache (kernels/_cache.py): cold and warm runs, thread counts, damaged files,
unwritable folders, FASTNET_CACHE=0, processes starting together, keys and pruning.

Every test runs fresh Python processes on its own empty cache folder (so CI proves the cold path),
with cheap kernels only (relu and dense: about 2 s to compile).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastnet.kernels import _cache

TIMEOUT = 240

# Runs a few ops in float32 or float64, then prints their results' bytes (hex digest) and, per
# compiled kernel, Numba's dispatcher stats: how many signatures were loaded from the cache and
# how many were compiled.
SCRIPT = textwrap.dedent("""
    import hashlib, json, sys, warnings
    import numpy as np
    warnings.simplefilter("always")
    import fastnet
    from fastnet import ops
    from numba.core.registry import CPUDispatcher
    dtype = sys.argv[1] if len(sys.argv) > 1 else "float32"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 300)).astype(dtype)
    w = rng.standard_normal((40, 300)).astype(dtype)
    y = ops.dense(ops.relu(x), w)
    digest = hashlib.sha256(y.tobytes()).hexdigest()
    import fastnet.kernels as k
    stats = {}
    signatures = {}   # per kernel and signature: [loaded, compiled]
    for module in (k.activations, k.dense):
        for name, d in vars(module).items():
            if isinstance(d, CPUDispatcher) and d.signatures:
                s = d.stats
                stats[f"{module.__name__}.{name}"] = [sum(s.cache_hits.values()), sum(s.cache_misses.values())]
                for sig in set(s.cache_hits) | set(s.cache_misses):
                    signatures[f"{module.__name__}.{name}{sig}"] = [s.cache_hits[sig], s.cache_misses[sig]]
    from fastnet.kernels import _cache
    print(json.dumps({"digest": digest, "stats": stats, "signatures": signatures, "key": _cache.STATE.key, "dir": _cache.STATE.dir,
                      "enabled": _cache.STATE.enabled, "threads": fastnet.get_num_threads()}))
""")


def probe_env(cache_dir, threads=1, extra_env=None):
    """The environment of a test process: the cache on, in ``cache_dir``, ``threads`` threads."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS=str(threads), FASTNET_CACHE_DIR=str(cache_dir))
    env.pop("FASTNET_CACHE", None)
    env.update(extra_env or {})
    return env


def run(tmp_path, cache_dir, *args, threads=1, extra_env=None, background=False):
    script = tmp_path / "cache_probe.py"
    if not script.exists():
        script.write_text(SCRIPT)
    env = probe_env(cache_dir, threads, extra_env)
    cmd = [sys.executable, str(script), *args]
    if background:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def loaded_everything(stats):
    return all(hits >= 1 and misses == 0 for hits, misses in stats.values())


def compiled_everything(stats):
    return all(hits == 0 and misses >= 1 for hits, misses in stats.values())


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One cold float32 run into a fresh folder, shared by the tests: (folder, its result)."""
    tmp_path = tmp_path_factory.mktemp("pristine")
    folder = tmp_path / "cache"
    result, _ = run(tmp_path, folder)
    assert compiled_everything(result["stats"]) and result["stats"]
    return folder, result


@pytest.fixture
def cold_run(tmp_path, pristine):
    """A copy of the pristine cache, filled by a cold run, for one test to use or damage."""
    folder, result = pristine
    shutil.copytree(folder, tmp_path / "cache")
    return tmp_path / "cache", dict(result, dir=str(tmp_path / "cache" / os.path.basename(result["dir"])))


def test_cold_then_warm_is_bitwise_equal_and_loads_every_kernel(tmp_path, cold_run):
    folder, cold = cold_run
    assert os.path.isdir(cold["dir"]) and os.path.dirname(cold["dir"]) == str(folder)
    warm, stderr = run(tmp_path, folder)
    assert warm["digest"] == cold["digest"]
    assert loaded_everything(warm["stats"]), warm["stats"]
    assert "CacheWarning" not in stderr


def test_thread_count_change_between_runs(tmp_path):
    folder = tmp_path / "cache"
    two, _ = run(tmp_path, folder, threads=2)
    one, _ = run(tmp_path, folder, threads=1)
    assert (two["threads"], one["threads"]) == (2, 1)
    assert loaded_everything(one["stats"])
    # Bitwise equal to an in-memory compile at the same thread count (dense's sgemm row blocks
    # depend on the thread count, so 1 and 2 threads may differ in the last bit: kernels/dense.py).
    for threads, cached in ((1, one), (2, two)):
        in_memory, _ = run(tmp_path, folder, threads=threads, extra_env={"FASTNET_CACHE": "0"})
        assert cached["digest"] == in_memory["digest"], threads


def damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_random(path):
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def damage_flip(path):
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # inside the payload: the checksum no longer matches
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("pattern, damage", [
    ("*.nbc", damage_truncate),
    ("*.nbi", damage_truncate),
    ("*.nbc", damage_random),
    ("*.nbi", damage_random),
    ("*.nbc", damage_flip),
])
def test_damaged_files_are_discarded_and_recompiled(tmp_path, cold_run, pattern, damage):
    folder, cold = cold_run
    files = sorted((folder / os.path.basename(cold["dir"])).glob(pattern))
    assert files
    for path in files:
        damage(path)
    again, stderr = run(tmp_path, folder)
    assert again["digest"] == cold["digest"]
    assert "discarded the cached" in stderr
    assert all(misses >= 1 for _, misses in again["stats"].values()), again["stats"]
    # the damaged entries were replaced: the next run loads everything again
    healed, stderr = run(tmp_path, folder)
    assert healed["digest"] == cold["digest"] and loaded_everything(healed["stats"])
    assert "discarded" not in stderr


def test_foreign_entry_is_rejected(tmp_path, cold_run):
    """A well-formed entry of another kernel in a kernel's place is never run."""
    folder, cold = cold_run
    key_dir = folder / os.path.basename(cold["dir"])
    relu = sorted(key_dir.glob("activations.relu_forward-*.nbc"))
    dense = sorted(key_dir.glob("dense._dense_forward-*.nbc"))
    assert len(relu) == len(dense) == 1
    shutil.copyfile(dense[0], relu[0])
    again, stderr = run(tmp_path, folder)
    assert again["digest"] == cold["digest"]
    assert "an entry of another function, signature or CPU" in stderr


def test_unwritable_location_warns_once_and_compiles_in_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result, stderr = run(tmp_path, blocker / "cache")   # makedirs fails even for root
    assert compiled_everything(result["stats"])
    assert stderr.count("CacheWarning") == 1 and "not writable" in stderr
    reference, _ = run(tmp_path, tmp_path / "fresh")
    assert result["digest"] == reference["digest"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_warns_once(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result, stderr = run(tmp_path, folder)
    finally:
        folder.chmod(0o755)
    assert stderr.count("CacheWarning") == 1 and compiled_everything(result["stats"])


def test_cache_off_by_environment(tmp_path):
    folder = tmp_path / "cache"
    result, stderr = run(tmp_path, folder, extra_env={"FASTNET_CACHE": "0"})
    assert not result["enabled"] and compiled_everything(result["stats"])
    assert not folder.exists()
    assert "CacheWarning" not in stderr


def test_four_processes_on_an_empty_cache(tmp_path):
    """Two float32 and two float64 processes start together: each kernel signature is compiled
    once, none crashes, and the index holds both dtypes afterwards (no lost or mixed entries)."""
    folder = tmp_path / "cache"
    (tmp_path / "cache_probe.py").write_text(SCRIPT)
    procs = [run(tmp_path, folder, dtype, background=True) for dtype in ("float32", "float64") * 2]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert outs[0]["digest"] == outs[2]["digest"] and outs[1]["digest"] == outs[3]["digest"]
    # the lock serialises compile-and-store: each signature any process used was compiled by
    # exactly one of the four, the others loaded it (a helper with no array argument, such as
    # dense's block bounds, serves both dtypes; a helper compiled with its caller is not used by
    # a process that loaded the caller)
    compiled = {}
    for out in outs:
        for sig, (_, misses) in out["signatures"].items():
            compiled[sig] = compiled.get(sig, 0) + misses
    assert compiled and all(n == 1 for n in compiled.values()), compiled
    for dtype, expected in (("float32", outs[0]), ("float64", outs[1])):
        warm, _ = run(tmp_path, folder, dtype)
        assert warm["digest"] == expected["digest"] and loaded_everything(warm["stats"])


def copy_of_package(destination):
    """fastnet as installed (the kernels folder as fastnet/kernels), copied to ``destination``."""
    import fastnet
    import fastnet.kernels
    target = destination / "fastnet"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(os.path.dirname(fastnet.__file__), target, ignore=ignore,
                    dirs_exist_ok=True)
    shutil.rmtree(target / "kernels", ignore_errors=True)
    shutil.copytree(os.path.dirname(fastnet.kernels.__file__), target / "kernels", ignore=ignore)
    return target


def key_of(package_parent, tmp_path):
    code = "import fastnet.kernels._cache as c, fastnet; print(c.STATE.key, fastnet.__file__)"
    env = dict(os.environ, PYTHONPATH=str(package_parent), FASTNET_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=TIMEOUT, check=True).stdout.split()
    assert out[1].startswith(str(package_parent)), out   # the copy was imported, not the install
    return out[0]


def test_edited_kernel_source_gets_a_new_key(tmp_path):
    package = copy_of_package(tmp_path / "copy")
    before = key_of(tmp_path / "copy", tmp_path)
    assert before == _cache.STATE.key   # same sources, same versions: the installed package's key
    with open(package / "kernels" / "pooling.py", "a") as f:
        f.write("\n# an edit in one kernel file\n")
    after = key_of(tmp_path / "copy", tmp_path)
    assert after != before


def test_key_covers_versions_and_settings():
    inputs = _cache.key_inputs()
    for field in ("kernel_sources_sha256", "fastnet", "numba", "llvmlite", "numpy", "python", "numba_opt"):
        assert field in inputs
        changed = dict(inputs, **{field: inputs[field] + "x"})
        assert _cache.compute_key(changed) != _cache.compute_key(inputs)


def test_old_keys_are_pruned(tmp_path):
    """Keys beyond the KEEP_KEYS most recent go once unused for PRUNE_AFTER_S; recent ones stay
    (another process may be using them: deleting would delete its lock files)."""
    folder = tmp_path / "cache"
    week = _cache.PRUNE_AFTER_S
    ages = [1000, week + 2000, week + 3000, 2000, week + 4000, 3000]   # seconds since last use
    for i, age in enumerate(ages):
        old = folder / f"{i:016x}"
        old.mkdir(parents=True)
        (old / "KEY.json").write_text("{}")
        (old / "last_used").write_text("0")
        os.utime(old / "last_used", (time.time() - age,) * 2)
    (folder / "not-a-key").mkdir()
    result, _ = run(tmp_path, folder)
    left = sorted(p.name for p in folder.iterdir())
    current = os.path.basename(result["dir"])
    assert current in left and "not-a-key" in left
    # kept: the current key, the two most recently used old ones (0 and 3), and key 5, beyond
    # those but used within the week; gone: the keys unused for over a week
    assert set(left) == {current, "not-a-key", f"{0:016x}", f"{3:016x}", f"{5:016x}"}


def test_cli_cache_info_warm_clear(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", FASTNET_CACHE_DIR=str(tmp_path / "cache"))

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "fastnet", "cache", *args], env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr

    out = cli("info")
    assert str(tmp_path / "cache") in out and "empty" in out
    out = cli("warm", "--dtype", "float64", "--only", "relu")
    assert "float64" in out
    out = cli("info")
    assert "relu_forward" in out and "float64" in out and _cache.STATE.key in out
    out = cli("clear")
    assert "removed 1" in out
    assert not any((tmp_path / "cache").iterdir())


def test_info_reports_the_cache():
    import fastnet
    report = fastnet.info(as_dict=True)
    assert report["cache_dir"] == _cache.STATE.root and report["cache_key"] == _cache.STATE.key
    assert "cache" in fastnet.info()


def test_index_and_data_of_two_signatures_swapped(tmp_path, cold_run):
    """What a race of two unlocked writers leaves (an index entry naming the other signature's
    data file) is found on load and recompiled, never run."""
    folder, cold = cold_run
    run(tmp_path, folder, "float64")
    key_dir = folder / os.path.basename(cold["dir"])
    first, second = sorted(key_dir.glob("activations.relu_forward-*.nbc"))
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    again, stderr = run(tmp_path, folder)
    assert again["digest"] == cold["digest"]
    assert "an entry of another function, signature or CPU" in stderr


def test_float64_scalars_of_float32_kernels_do_not_make_float64_warm(tmp_path):
    """leaky_relu's float32 kernel takes a float64 slope, cross_entropy's sums float64 partials
    (losses._ordered_sum): the cache then holds float32 kernels only, so a float64 run is still
    announced as cold (and fastnet.compile starts its helpers)."""
    code = ("import numpy as np; from fastnet import ops; from fastnet.kernels import _cache; "
            "ops.leaky_relu(np.ones(5, np.float32)); ops.cross_entropy(np.ones((2, 3), np.float32), np.array([0, 2])); "
            "print(_cache.has_entries('float32'), _cache.has_entries('float64'), "
            "[s for _, s in _cache.entries()])")
    env = probe_env(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    warm32, warm64, signatures = proc.stdout.strip().split(" ", 2)
    assert "float64" in signatures and "(array(float64, 1d, C))" in signatures   # what the test is about
    assert (warm32, warm64) == ("True", "False")


def test_fit_helper_compiles_the_loss_first(tmp_path):
    """On a cold cache fit's helper process (fastnet/_warm.py) computes the loss before the layers:
    training reaches the loss last, so the helper takes it off the cold first epoch."""
    code = textwrap.dedent("""
        import numpy as np
        from fastnet import layers, losses, Sequential, _warm
        from fastnet.kernels import _cache
        model = Sequential([layers.Dense(4, 3)])
        helper = _warm.start(model, (4,), 8, "float32", losses.CrossEntropy(), ((), np.dtype("int64")))
        helper.wait(timeout=200)
        print(helper.returncode, sorted({name for name, _ in _cache.entries()}))
    """)
    env = probe_env(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    returncode, names = proc.stdout.strip().split(" ", 1)
    assert returncode == "0"
    assert "losses.cross_entropy_forward" in names and "dense._dense_forward" in names, names


def test_fit_helper_takes_the_convolutions_weight_gradients_first(monkeypatch):
    """The helper's tasks: the convolutions' weight gradients alone, last one first (their forward
    kernels are what the training process needs next), then every layer whole, last one first."""
    import io
    from fastnet import Sequential, _warm, layers
    model = Sequential([layers.Conv2d(1, 4, 3, padding=1), layers.ReLU(), layers.MaxPool2d(2),
                        layers.Conv2d(4, 8, 3), layers.Flatten(), layers.Dense(32, 3)])
    spec = {"config": model.get_config(), "shape": [5, 1, 8, 8], "dtype": "float32"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(spec)))
    tasks = []
    monkeypatch.setattr(_warm, "_run_layer", lambda layer, i, shape, dtype, rng, weights_only=False:
                        tasks.append((i, type(layer).__name__, shape, weights_only)) or True)
    _warm.main()
    assert tasks == [(3, "Conv2d", (5, 4, 4, 4), True), (0, "Conv2d", (5, 1, 8, 8), True),
                     (5, "Dense", (5, 32), False), (4, "Flatten", (5, 8, 2, 2), False),
                     (3, "Conv2d", (5, 4, 4, 4), False), (2, "MaxPool2d", (5, 4, 8, 8), False),
                     (1, "ReLU", (5, 4, 8, 8), False), (0, "Conv2d", (5, 1, 8, 8), False)]


def test_fit_helper_weight_gradient_alone_matches_a_whole_step():
    """A weights-only task computes the same gradient a forward and backward would (the layer's
    input kept as its forward keeps it), and no input gradient."""
    from fastnet import _warm, layers
    layer = layers.Conv2d(3, 4, 3, padding=1, seed=0)
    asked, backward = [], layer.backward
    layer.backward = lambda dy, input_grad=True: asked.append(input_grad) or backward(dy, input_grad=input_grad)
    assert _warm._run_layer(layer, 2, (2, 3, 6, 6), np.float32, np.random.default_rng(1), weights_only=True)
    assert asked == [False]
    alone = layer.weight.grad.copy(), layer.bias.grad.copy()
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    whole = layers.Conv2d(3, 4, 3, padding=1, seed=0)
    whole.backward(np.ones_like(whole.forward(x)))
    assert np.array_equal(alone[0], whole.weight.grad) and np.array_equal(alone[1], whole.bias.grad)


def test_fit_helper_puts_off_a_layer_whose_kernel_is_busy(tmp_path):
    """While another process holds dense's lock (as when compiling it), the helper of a
    [ReLU, Dense] model, which starts from the last layer, puts Dense off instead of waiting,
    compiles ReLU, and finishes Dense once the lock is free."""
    from filelock import FileLock
    env = probe_env(tmp_path / "cache")
    names = ("from fastnet.kernels import _cache, dense; "
             "print(_cache.STATE.dir, dense._dense_forward._cache._impl.filename_base)")
    key_dir, dense_base = subprocess.run([sys.executable, "-c", names], env=env, capture_output=True, text=True,
                                         timeout=TIMEOUT, check=True).stdout.split()
    key_dir = pathlib.Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True)
    code = textwrap.dedent("""
        from fastnet import layers, Sequential, _warm
        model = Sequential([layers.ReLU(), layers.Dense(6, 5)])
        print(_warm.start(model, (6,), 16, "float32").wait(timeout=200))  # 16 rows: dense's BLAS forward
    """)
    with FileLock(str(key_dir / f"{dense_base}.lock")):
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 120
        while not list(key_dir.glob("activations.relu_forward-*.nbi")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        assert not list(key_dir.glob("dense._dense_forward-*.nbi"))
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0 and stdout.strip() == "0", stderr
    assert list(key_dir.glob("dense._dense_forward-*.nbi"))
