"""fastnet.distributed: the single-process no-op path in-process, and the MPI paths under mpiexec.

The mpiexec runs (2 and 4 ranks, oversubscribed on a 2-core machine) each check several properties
at once and write one JSON file per rank that the tests assert on: every rank compiles the Numba
kernels it uses, and that compile time, not MPI, is the cost of these tests.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastnet import distributed as dist
from fastnet.parameter import Parameter

MPI_DIR = Path(__file__).resolve().parent / "mpi"
MPI_ENV_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "MPI_LOCALNRANKS",
                     "PMIX_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "SLURM_NTASKS",
                     "SLURM_STEP_ID")


def _mpiexec():
    """The mpiexec next to this Python (the venv's, from the mpich wheel), else the one on PATH; skips without."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip('mpi4py is not installed: pip install "fastnet[mpi]" (mpi4py and mpich)')
    for candidate in (Path(sys.executable).parent / "mpiexec", shutil.which("mpiexec")):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.skip("no mpiexec found (next to the Python executable or on PATH): pip install mpich")


def run_mpi(n, args, timeout, cwd=None):
    """``mpiexec -n N python ARGS`` with one thread per rank and a timeout; returns the CompletedProcess."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    for name in MPI_ENV_VARIABLES:  # a test run itself launched by mpiexec must not confuse the ranks
        env.pop(name, None)
    command = [_mpiexec(), "-n", str(n), sys.executable] + [str(a) for a in args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def read_ranks(out_dir, n):
    results = [json.loads((Path(out_dir) / f"rank{r}.json").read_text()) for r in range(n)]
    assert [r["rank"] for r in results] == list(range(n))
    return results


@pytest.fixture
def single_process(monkeypatch):
    """fastnet.distributed as in a process started without mpiexec."""
    for name in MPI_ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(dist, "_comm", None)


# ----------------------------------------------------------------------------------------------
# one process, no MPI


@pytest.mark.parametrize("n", [0, 1, 5, 7, 16, 35])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 8])
def test_shard_is_contiguous_complete_and_even(n, size):
    parts = [dist.shard(n, rank=r, size=size) for r in range(size)]
    assert parts[0].start == 0 and parts[-1].stop == n
    for a, b in zip(parts, parts[1:]):
        assert a.stop == b.start
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= 1
    assert lengths == sorted(lengths, reverse=True)  # the first ranks take the remainder
    assert all(p.step is None for p in parts)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n=-1), ValueError, "n: expected a non-negative"),
    (dict(n=3, rank=2, size=2), ValueError, r"rank: expected an int in \[0, 2\)"),
    (dict(n=3, rank=0, size=0), ValueError, "size: expected a positive"),
    (dict(n=3.0), TypeError, "n: expected an int"),
    (dict(n=True), TypeError, "n: expected an int"),
])
def test_shard_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        dist.shard(**kwargs)


def test_single_process_is_a_no_op(single_process):
    assert dist.init() == 1
    assert dist._comm is None  # nothing launched, mpi4py not needed: not imported by init()
    assert (dist.rank(), dist.size(), dist.is_root()) == (0, 1, True)
    dist.barrier()
    assert dist.shard(7) == slice(0, 7)
    params = [Parameter(np.arange(6.0).reshape(2, 3)), Parameter(np.ones(2, np.float32))]
    for p in params:
        p.grad[...] = 2.0
    before = [p.value.copy() for p in params]
    dist.broadcast_parameters(params)
    assert all(np.array_equal(p.value, b) for p, b in zip(params, before))
    assert dist.allreduce_gradients(params, 3) == 3
    assert all(np.all(p.grad == 2.0) for p in params)
    x = np.array([1.5, 2.5])
    y = dist.allreduce_sum(x)
    assert np.array_equal(y, x) and y is not x
    assert dist.reduce_metrics({"loss": (3.0, 4), "accuracy": (1, 2), "empty": (0.0, 0)}) == \
        pytest.approx({"loss": 0.75, "accuracy": 0.5, "empty": float("nan")}, nan_ok=True)


def test_a_rank_without_samples_contributes_zeros(single_process):
    p = Parameter(np.ones(3))
    p.grad[...] = np.nan
    assert dist.allreduce_gradients([p], 0) == 0
    assert np.array_equal(p.grad, np.zeros(3))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(count=-1), ValueError, "count: expected a non-negative int"),
    (dict(count=2.0), ValueError, "count: expected a non-negative int"),
    (dict(count=1, reduction="max"), ValueError, "reduction: expected 'mean' or 'sum'"),
])
def test_allreduce_gradients_rejects_bad_arguments(single_process, kwargs, error, match):
    with pytest.raises(error, match=match):
        dist.allreduce_gradients([Parameter(np.ones(2))], **kwargs)


def test_collectives_reject_bad_arrays(single_process):
    with pytest.raises(TypeError, match="params: expected fastnet Parameters or numpy arrays"):
        dist.allreduce_gradients(["w"], 1)
    with pytest.raises(ValueError, match=r"params\[0\]: expected a writeable C-contiguous float array"):
        dist.allreduce_gradients([np.ones((3, 2)).T], 1)
    with pytest.raises(TypeError, match="array: expected a numeric array"):
        dist.allreduce_sum(np.array(["a"]))


def test_launched_size_reads_the_launchers_environment(single_process, monkeypatch):
    assert (dist.launched_size(), dist.launched_rank(), dist.is_launched()) == (1, 0, False)
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setenv("PMI_RANK", "3")
    assert (dist.launched_size(), dist.launched_rank(), dist.is_launched()) == (4, 3, True)
    monkeypatch.delenv("PMI_SIZE")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert dist.launched_size() == 2
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    monkeypatch.setenv("SLURM_NTASKS", "8")  # an sbatch script's shell, not an srun step
    assert dist.launched_size() == 1
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert dist.launched_size() == 8


def test_missing_mpi4py_says_how_to_install_it(single_process, monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `from mpi4py import MPI` raises ImportError
    assert dist.init() == 1  # not launched, not required: one process
    with pytest.raises(ImportError, match=r'pip install "fastnet\[mpi\]".*pip install mpi4py mpich'):
        dist.init(required=True)
    monkeypatch.setenv("PMI_SIZE", "2")  # launched by mpiexec with 2 ranks, but no mpi4py
    with pytest.raises(ImportError, match=r"fastnet\[mpi\]"):
        dist.init()


# ----------------------------------------------------------------------------------------------
# under mpiexec


@pytest.mark.parametrize("n", [2, 4])
def test_collectives_under_mpiexec(n, tmp_path):
    result = run_mpi(n, [MPI_DIR / "collectives.py", tmp_path], timeout=120)
    assert result.returncode == 0, result.stderr
    ranks = read_ranks(tmp_path, n)
    counts = [3 + 2 * r for r in range(n)]
    counts[1] = 0
    for r in ranks:
        assert (r["size"], r["is_root"], r["launched_size"]) == (n, r["rank"] == 0, n)
        assert r["launched_rank"] == r["rank"]
        assert r["broadcast_equal"]
        assert r["broadcast_calls"] == 2            # two dtypes: one fused Bcast each
        assert r["allreduce_calls"] == 3            # the sample count, then one buffer per dtype
        assert r["total"] == sum(counts)
        assert r["mean_error"] < 1e-6 and r["sum_error"] < 1e-6  # float32 parts at float32 precision
        assert r["grad_dtypes_kept"]
        assert r["opt_state"] == ranks[0]["opt_state"]
        assert r["opt_state"]["step_count"] == 1 and r["opt_state"]["steps"] == [1] * 4
        assert r["opt_state"]["lr"] == pytest.approx(0.01)
        assert r["metrics"]["loss"] == pytest.approx(sum(2.0 * k for k in range(n)) / sum(k + 1 for k in range(n)))
        assert r["metrics"]["accuracy"] == pytest.approx(sum(range(n)) / (2 * n))
        assert r["allreduce_sum"] == [sum(i + k for k in range(n)) for i in range(3)]
        assert r["shard"] == [[dist.shard(m, r["rank"], n).start, dist.shard(m, r["rank"], n).stop]
                              for m in (0, 1, 7, 10)]
    assert len({r["grad_bytes"] for r in ranks}) == 1  # bitwise the same reduced gradients on every rank
    for r in ranks:
        assert r["object"] == {"rank": 0}
        assert (r["run_on_root"], r["ran"]) == (("done", [0]) if r["rank"] == 0 else (None, []))
        assert r["failure"] == ("OSError: disk full" if r["rank"] == 0 else
                                "RuntimeError: rank 0 failed in main.<locals>.fail: OSError: disk full")


def test_an_exception_on_one_rank_aborts_the_job():
    start = time.perf_counter()
    result = run_mpi(2, [MPI_DIR / "fail.py"], timeout=60)  # a hang would end in TimeoutExpired
    elapsed = time.perf_counter() - start
    assert result.returncode != 0
    assert "[rank 1] RuntimeError: rank 1 fails on purpose" in result.stderr
    assert "not reached" not in result.stdout
    assert elapsed < 30


@pytest.fixture(scope="module")
def fit_runs(tmp_path_factory):
    """tests/mpi/fit_check.py under mpiexec -n 2 and -n 4, once per test module: {n: (ranks, process, dir)}."""
    runs = {}
    for n in (2, 4):
        out = tmp_path_factory.mktemp(f"fit{n}")
        result = run_mpi(n, [MPI_DIR / "fit_check.py", out], timeout=240)
        assert result.returncode == 0, result.stderr
        runs[n] = (read_ranks(out, n), result, out)
    return runs


@pytest.mark.parametrize("n", [2, 4])
def test_fit_equals_one_process_on_the_combined_batch(fit_runs, n):
    ranks, _, _ = fit_runs[n]
    reference = ranks[0]["reference"]
    assert set(reference) == {"sgd_momentum", "adam", "squared_error_sum"}  # mean and sum losses
    for name, ref in reference.items():
        mine = ranks[0]["cases"][name]
        assert ref["max_difference"] <= 1e-10, (name, ref["max_difference"])
        assert ref["steps"] == len(mine["hashes"])
        assert ref["epochs"] == mine["epochs"]  # EarlyStopping took the same decision
        for got, want in zip(mine["logs"], ref["logs"]):
            assert got.keys() == want.keys()
            for key in want:
                assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12), (name, key)
    assert all(r["cases"]["one_rank_stops"]["epochs"] == [1] for r in ranks)  # the last rank's stop stops all
    assert all(r["custom_loop"] for r in ranks)  # the README's loop is fit's, bit for bit
    sgd = ranks[0]["cases"]["sgd_momentum"]
    assert sgd["epochs"] == [1, 2] and "val_loss" in sgd["logs"][0]  # validation ran and stopping was exercised
    assert len(sgd["hashes"]) == 2 * -(-35 // (4 * n))  # epochs x global batches, the last one short


@pytest.mark.parametrize("n", [2, 4])
def test_fit_keeps_every_rank_bitwise_equal_after_every_step(fit_runs, n):
    ranks, _, _ = fit_runs[n]
    for name in ranks[0]["cases"]:
        records = [r["cases"][name] for r in ranks]
        assert len({rec["initial"] for rec in records}) == n  # each rank built different initial weights
        assert all(rec["hashes"] == records[0]["hashes"] for rec in records), name
        assert all(rec["logs"] == records[0]["logs"] and rec["epochs"] == records[0]["epochs"] for rec in records)
        assert len(set(records[0]["hashes"])) == len(records[0]["hashes"])  # every step changed the weights


@pytest.mark.parametrize("n", [2, 4])
def test_fit_writes_one_checkpoint_and_one_progress_bar(fit_runs, n):
    ranks, result, out = fit_runs[n]
    files = ["checkpoint.npz", "ckpt-1.npz", "ckpt-2.npz", "log.csv"] + [f"rank{r}.json" for r in range(n)]
    assert sorted(p.name for p in out.iterdir()) == files  # no temporary files left by racing ranks
    assert len((out / "log.csv").read_text().splitlines()) == 3  # a header and 2 epochs
    assert all(r["checkpoint_matches"] for r in ranks)  # every rank read rank 0's file after save returned
    assert result.stderr.count("epoch 1/3 - ") == 1 and result.stderr.count("epoch 2/3 - ") == 1
    assert "epoch 3/3" not in result.stderr  # EarlyStopping stopped all ranks together


def test_fit_with_one_rank_is_the_single_process_path():
    pytest.importorskip("mpi4py")
    import fastnet
    from fastnet import losses, optim
    from fastnet.layers import Dense, ReLU
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((13, 5)), rng.integers(0, 3, 13)
    weights = []
    for distributed in (False, True):
        model = fastnet.Sequential([Dense(5, 4, dtype=np.float64, seed=0), ReLU(),
                                    Dense(4, 3, dtype=np.float64, seed=1)])
        history = model.fit(x, y, losses.CrossEntropy(), optim.Adam(model.parameters(), lr=0.01), epochs=2,
                            batch_size=4, seed=0, verbose=0, validation_data=(x, y), distributed=distributed)
        weights.append((model.get_weights(), history.history["val_loss"]))
    assert dist.size() == 1
    assert all(np.array_equal(a, b) for a, b in zip(weights[0][0], weights[1][0]))
    assert weights[0][1] == weights[1][1]


def test_fit_distributed_without_mpi4py_says_how_to_install_it(single_process, monkeypatch):
    import fastnet
    from fastnet.layers import Dense
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    model = fastnet.Sequential([Dense(2, 2, dtype=np.float64, seed=0)])
    with pytest.raises(ImportError, match=r'pip install "fastnet\[mpi\]"'):
        model.fit(np.ones((3, 2)), np.ones((3, 2)), "mse", fastnet.optim.SGD(model.parameters()), distributed=True)
    with pytest.raises(TypeError, match="distributed: expected True or False"):
        model.fit(np.ones((3, 2)), np.ones((3, 2)), "mse", fastnet.optim.SGD(model.parameters()), distributed=1)


def test_cli_train_under_mpiexec_prints_once_from_rank_0(tmp_path):
    """`mpiexec -n 2 python -m fastnet train`: data-parallel, one header, one progress bar, one result."""
    import re
    from fastnet import datasets
    from fastnet.model import load
    path = tmp_path / "lenet.npz"
    # each rank compiles the LeNet kernels: minutes on a busy 2-core machine, hence the long timeout
    result = run_mpi(2, ["-m", "fastnet", "train", "--epochs", "1", "--batch-size", "64", "--save", path],
                     timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("LeNet-5 on the 8x8 digits") == 1
    assert "data-parallel over MPI: 2 ranks x 1 threads, batch 64 per rank (128 per step)" in result.stderr
    assert result.stderr.count("epoch 1/1 ") == 1 and result.stderr.count("time: ") == 1
    assert len(re.findall(r"^test accuracy: ", result.stdout, re.M)) == 1
    assert result.stdout.rstrip().splitlines()[-1].startswith("test accuracy: ")
    accuracy = float(re.search(r"^test accuracy: ([0-9.]+)$", result.stdout, re.M).group(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.npz"]
    _, (x_test, y_test) = datasets.load_digits(seed=0)
    assert load(path).evaluate(x_test, y_test)["accuracy"] == pytest.approx(accuracy, abs=1e-4)
