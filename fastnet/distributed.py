"""Data-parallel training over MPI (mpi4py, Horovod-style): ranks, broadcasts, fused gradient allreduce, shards."""

import functools
import numbers
import os
import sys
import traceback

import numpy as np

INSTALL_HINT = 'pip install "fastnet[mpi]"  (or: pip install mpi4py mpich)'

# environment variables by which MPI launchers tell a process the number of ranks
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE",
                   "SLURM_NTASKS")
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")

_comm = None          # mpi4py.MPI.Comm once init() found MPI with an mpi4py import, else None
_previous_excepthook = None


# ----------------------------------------------------------------------------------------------
# start-up


def launched_size():
    """The number of ranks an MPI launcher started, read from the environment (no mpi4py import).

    Returns
    -------
    int: the largest of ``PMI_SIZE`` (MPICH, Intel MPI), ``OMPI_COMM_WORLD_SIZE`` (Open MPI),
    ``MPI_LOCALNRANKS``, ``PMIX_SIZE``, ``MV2_COMM_WORLD_SIZE`` that is set (``SLURM_NTASKS`` only
    inside an ``srun`` step), or 1 when none is. The CLI uses it to decide whether to train
    distributed.
    """
    names = list(_SIZE_VARIABLES)
    if "SLURM_STEP_ID" not in os.environ:  # an sbatch script's own shell is not a rank
        names.remove("SLURM_NTASKS")
    sizes = []
    for name in names:
        try:
            sizes.append(int(os.environ[name]))
        except (KeyError, ValueError):
            pass
    return max(sizes, default=1)


def launched_rank():
    """This process's rank as the MPI launcher set it in the environment (0 when none is set)."""
    for name in _RANK_VARIABLES:
        try:
            return int(os.environ[name])
        except (KeyError, ValueError):
            pass
    return 0


def is_launched():
    """True when this process is one of several ranks started by an MPI launcher (``launched_size() > 1``)."""
    return launched_size() > 1


def available():
    """True when mpi4py can be imported (without importing it)."""
    import importlib.util
    if "mpi4py" in sys.modules:
        return sys.modules["mpi4py"] is not None
    return importlib.util.find_spec("mpi4py") is not None


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"distributed training needs mpi4py and an MPI library: {INSTALL_HINT} "
                          f"({type(exc).__name__}: {exc})") from None
    return MPI


def init(required=False):
    """Join the MPI job, if there is one; safe to call more than once.

    Parameters
    ----------
    required : bool, default False
        False: without an MPI launcher (and without mpi4py already imported) stay one process and
        import nothing. True (``fit(distributed=True)`` passes it): import mpi4py in any case,
        raising an ImportError that says how to install it when it is missing; outside ``mpiexec``
        that gives one rank.

    Returns
    -------
    int: the number of ranks, ``size()``.

    Raises
    ------
    ImportError when the process was launched with several ranks (or ``required``) and mpi4py
    is missing.

    Notes
    -----
    With more than one rank, installs a ``sys.excepthook`` that prints the traceback prefixed with
    the rank and calls ``MPI.COMM_WORLD.Abort(1)``: one failing rank ends the whole job within
    seconds rather than leaving the others blocked in a collective.
    """
    global _comm, _previous_excepthook
    if _comm is not None:
        return _comm.Get_size()
    if required or is_launched() or sys.modules.get("mpi4py") is not None:
        MPI = _import_mpi()
        _comm = MPI.COMM_WORLD
        if _comm.Get_size() > 1 and _previous_excepthook is None:
            _previous_excepthook = sys.excepthook
            sys.excepthook = _abort_on_exception
    return size()


def _abort_on_exception(exc_type, exc, tb):
    """sys.excepthook for ranks: report the exception, then abort every rank of the job."""
    try:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write("".join(f"[rank {rank()}] {line}\n" for line in text.rstrip("\n").split("\n")))
        sys.stderr.write(f"[rank {rank()}] fastnet.distributed: aborting all {size()} ranks\n")
        sys.stderr.flush()
    finally:
        _comm.Abort(1)


def rank():
    """This process's rank, 0 to ``size() - 1`` (0 without MPI)."""
    return 0 if _comm is None else _comm.Get_rank()


def size():
    """The number of ranks (1 without MPI)."""
    return 1 if _comm is None else _comm.Get_size()


def is_root():
    """True on rank 0, the rank that prints and writes files."""
    return rank() == 0


_rank, _size = rank, size  # for functions whose arguments shadow them


def barrier():
    """Wait until every rank gets here (no-op without MPI)."""
    if size() > 1:
        _comm.Barrier()


# ----------------------------------------------------------------------------------------------
# sharding


def shard(n, rank=None, size=None):
    """This rank's contiguous part of ``n`` items, split as evenly as possible.

    The first ``n % size`` ranks get ``n // size + 1`` items, the others ``n // size``; ranks
    past ``n`` get an empty slice. Deterministic: it depends on the arguments only.

    Parameters
    ----------
    n : int >= 0, the number of items (e.g. the samples of one global batch)
    rank : int in [0, size), default: this process's rank
    size : int >= 1, default: the number of ranks

    Returns
    -------
    slice with ``start <= stop`` (and step None): ``x[shard(len(x))]``.
    """
    size = _size() if size is None else size
    rank = _rank() if rank is None else rank
    for name, value in (("n", n), ("rank", rank), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
            raise TypeError(f"{name}: expected an int, got {type(value).__name__}: {value!r}")
    if n < 0:
        raise ValueError(f"n: expected a non-negative int, got {n}")
    if size < 1:
        raise ValueError(f"size: expected a positive int, got {size}")
    if not 0 <= rank < size:
        raise ValueError(f"rank: expected an int in [0, {size}), got {rank}")
    base, extra = divmod(int(n), int(size))
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


# ----------------------------------------------------------------------------------------------
# collectives on parameters


def _arrays(params, attribute):
    """The arrays of ``params`` (a model, Parameters, or ndarrays), checked C-contiguous floats."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    out = []
    for i, p in enumerate(params):
        a = getattr(p, attribute) if hasattr(p, attribute) else p
        if not isinstance(a, np.ndarray):
            raise TypeError(f"params: expected fastnet Parameters or numpy arrays, got {type(p).__name__} at index {i}")
        if a.dtype.kind != "f" or not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(f"params[{i}]: expected a writeable C-contiguous float array, got "
                             f"dtype {a.dtype}, contiguous {a.flags.c_contiguous}, writeable {a.flags.writeable}")
        out.append(a)
    return out


def _groups(arrays):
    """Arrays grouped by dtype, in first-seen order: {dtype: [array, ...]}."""
    groups = {}
    for a in arrays:
        groups.setdefault(a.dtype, []).append(a)
    return groups


def broadcast_parameters(params, root=0):
    """Overwrite every rank's parameter values with ``root``'s, in place.

    Parameters
    ----------
    params : Sequential, or list of Parameter (their ``.value``) or of float ndarrays
        The same shapes and dtypes, in the same order, on every rank.
    root : int, default 0

    One fused buffer per dtype: one ``Bcast`` per dtype, not one per tensor.
    """
    if size() == 1:
        return
    for dtype, group in _groups(_arrays(params, "value")).items():
        buffer = np.concatenate([a.ravel() for a in group]) if rank() == root else \
            np.empty(sum(a.size for a in group), dtype)
        _comm.Bcast(buffer, root=root)
        _unpack(buffer, group)


def _unpack(buffer, group):
    offset = 0
    for a in group:
        a.reshape(-1)[...] = buffer[offset:offset + a.size]
        offset += a.size


def broadcast_optimizer_state(optimizer, root=0):
    """Give every rank ``root``'s optimizer state (step count, hyperparameters, moment buffers).

    Parameters
    ----------
    optimizer : fastnet.optim.Optimizer
        Its ``state`` (one dict per parameter), ``step_count`` and ``defaults`` are replaced by
        root's; arrays are copied into the existing ones where their shapes match, so references
        stay valid.
    root : int, default 0

    Small objects travel pickled (``bcast``); optimizer moments are small next to the gradients
    that cross the network every step.
    """
    if size() == 1:
        return
    payload = None
    if rank() == root:
        payload = {"state": optimizer.state, "step_count": getattr(optimizer, "step_count", None),
                   "defaults": getattr(optimizer, "defaults", None)}
    payload = _comm.bcast(payload, root=root)
    if rank() == root:
        return
    if len(payload["state"]) != len(optimizer.state):
        raise ValueError(f"optimizer: rank {root} has state for {len(payload['state'])} parameters, "
                         f"rank {rank()} for {len(optimizer.state)}; build the same model on every rank")
    for mine, theirs in zip(optimizer.state, payload["state"]):
        for key, value in theirs.items():
            old = mine.get(key)
            if isinstance(value, np.ndarray) and isinstance(old, np.ndarray) and old.shape == value.shape \
                    and old.dtype == value.dtype:
                old[...] = value
            else:
                mine[key] = value
        for key in set(mine) - set(theirs):
            del mine[key]
    if payload["step_count"] is not None:
        optimizer.step_count = payload["step_count"]
    if payload["defaults"] is not None:
        optimizer.defaults.clear()
        optimizer.defaults.update(payload["defaults"])


def allreduce_gradients(params, count, reduction="mean", total=None):
    """Combine every rank's gradients into the global batch's, in place, on every rank.

    ``reduction="mean"`` (losses averaged over the batch: CrossEntropy, MSE): each rank's
    ``grad`` is the mean over its ``count`` samples, and every rank ends with
    ``sum_r(count_r * grad_r) / sum_r(count_r)``, the mean over the global batch.
    ``reduction="sum"`` (summed losses: SquaredError): ``sum_r(grad_r)``.
    A rank with ``count == 0`` contributes zeros whatever its ``grad`` holds.

    Parameters
    ----------
    params : Sequential, or list of Parameter (their ``.grad``) or of float ndarrays
        The same shapes and dtypes, in the same order, on every rank.
    count : int >= 0, this rank's samples in the batch
    reduction : "mean" (default) or "sum", as the loss's ``reduction``
    total : int, optional: ``sum_r(count_r)`` when already known (saves one small allreduce)

    Returns
    -------
    int: the global sample count ``sum_r(count_r)``. When it is 0 the gradients are set to 0.

    One fused contiguous buffer per dtype and step (one ``Allreduce`` each). Every rank receives
    the same reduced buffer (MPI's builtin sum is commutative and computed once per element by
    MPICH's algorithms), so parameters stay bitwise equal across ranks.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
    if isinstance(count, bool) or not isinstance(count, (numbers.Integral, np.integer)) or count < 0:
        raise ValueError(f"count: expected a non-negative int (this rank's samples), got {count!r}")
    grads = _arrays(params, "grad")
    count = int(count)
    if size() == 1:
        if count == 0:
            for g in grads:
                g.fill(0)
        return count
    if total is None:
        total = int(allreduce_sum(np.array([count], np.int64))[0])
    for dtype, group in _groups(grads).items():
        if count == 0:
            buffer = np.zeros(sum(g.size for g in group), dtype)
        else:
            buffer = np.concatenate([g.ravel() for g in group])
            if reduction == "mean":
                buffer *= dtype.type(count)
        _comm.Allreduce(_in_place(), buffer)
        if reduction == "mean" and total > 0:
            buffer /= dtype.type(total)
        _unpack(buffer, group)
    return total


def _in_place():
    from mpi4py import MPI
    return MPI.IN_PLACE


def broadcast_object(obj, root=0):
    """``root``'s ``obj`` (any picklable object) on every rank; ``obj`` itself without MPI."""
    if size() == 1:
        return obj
    return _comm.bcast(obj if rank() == root else None, root=root)


def root_only(function):
    """Decorator: the function runs on rank 0 only, as :func:`run_on_root` runs it (``Sequential.save``).

    Every rank must call the decorated function (it is a collective), or the ranks that do wait.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return run_on_root(function, *args, **kwargs)
    return wrapper


def run_on_root(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)`` on rank 0 only, while every rank waits for it to finish.

    Returns its result on rank 0 and None on the other ranks (the function itself without MPI).

    When it raises on rank 0, rank 0 re-raises the exception and every other rank raises a
    RuntimeError that quotes it: the ranks take the same decision instead of waiting forever.
    ``Sequential.save`` writes its file through it.
    """
    if size() == 1:
        return function(*args, **kwargs)
    result, error = None, None
    if is_root():
        try:
            result = function(*args, **kwargs)
        except BaseException as exc:  # noqa: B036 - re-raised below, after telling the other ranks
            error = exc
    message = broadcast_object(None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    if message is not None:
        raise RuntimeError(f"rank 0 failed in {getattr(function, '__qualname__', function)!s}: {message}")
    return result


# ----------------------------------------------------------------------------------------------
# metrics


def allreduce_sum(array):
    """The element-wise sum of ``array`` over all ranks (a new array; a copy without MPI).

    Parameters
    ----------
    array : ndarray (or scalar/list) of a numeric dtype, the same shape and dtype on every rank

    Returns
    -------
    ndarray of the same shape and dtype.
    """
    buffer = np.array(array, copy=True, order="C")
    if buffer.dtype.kind not in "iuf":
        raise TypeError(f"array: expected a numeric array, got dtype {buffer.dtype}")
    if size() > 1:
        _comm.Allreduce(_in_place(), buffer)
    return buffer


def reduce_metrics(metrics):
    """Global averages of metrics kept as (sum, count) pairs, in one float64 allreduce.

    Parameters
    ----------
    metrics : dict of str -> (float, float)
        Per rank, e.g. ``{"loss": (sum of per-sample losses, samples), "accuracy": (correct,
        samples)}``; the same keys on every rank (they are sorted, so the order does not matter).

    Returns
    -------
    dict of str -> float: ``sum_r(sum) / sum_r(count)`` per key (NaN where the total count is 0).
    """
    keys = sorted(metrics)
    values = np.array([[float(metrics[k][0]), float(metrics[k][1])] for k in keys], np.float64).reshape(-1, 2)
    values = allreduce_sum(values)
    return {k: (s / c if c else float("nan")) for k, (s, c) in zip(keys, values)}


# ----------------------------------------------------------------------------------------------
# the distributed path of Sequential.fit(..., distributed=True)


def _fit_setup(model, optimizer, seed):
    """Join the job and give every rank rank 0's parameters, optimizer state and shuffling seed.

    Returns the seed every rank shuffles with (rank 0's fresh entropy when ``seed`` is None).
    """
    init(required=True)
    if size() == 1:
        return seed
    broadcast_parameters(model.parameters())
    broadcast_optimizer_state(optimizer)
    if seed is None:
        seed = broadcast_object(int(np.random.SeedSequence().entropy))
    return seed


def _rank_share(idx, n):
    """This rank's contiguous share of one global batch ``idx`` (a slice or an index array of the
    epoch's order), as the same kind of index, and the global batch's size."""
    if isinstance(idx, slice):
        start, stop = idx.start, min(idx.stop, n)
        part = shard(stop - start)
        return slice(start + part.start, start + part.stop), stop - start
    return idx[shard(len(idx))], len(idx)


def _train_step(model, x, y, idx, loss_fn, optimizer, metric_fns):
    """``Sequential._train_step`` on this rank's share of global batch ``idx``, then every rank
    gets the global batch's sums and gradient.

    The (loss, metric sums, count) travel in one small float64 allreduce; when the global loss is
    finite the gradients follow in one fused allreduce per dtype, weighted by each rank's count
    (summed for "sum" losses). A rank without samples in the batch contributes zeros.

    Returns
    -------
    (loss_sum, metric_sums, count) of the global batch, as ``Sequential._train_step`` returns them
    for one process. Callbacks then see the same batch logs on every rank; a batch-level callback
    that sets ``stop_training`` from anything else (a clock, a file) must agree across ranks itself,
    while ``fit`` ORs the flag over the ranks after each epoch.
    """
    share, _ = _rank_share(idx, x.shape[0])
    xb, yb = x[share], y[share]
    if xb.shape[0]:
        loss_sum, metric_sums, count = model._train_step(xb, yb, loss_fn, optimizer, metric_fns)
    else:
        model.zero_grad()
        optimizer.zero_grad()
        loss_sum, metric_sums, count = 0.0, [0.0] * len(metric_fns), 0
    totals = allreduce_sum(np.array([count, loss_sum] + [float(m) for m in metric_sums], np.float64))
    total = int(totals[0])
    if np.isfinite(totals[1]):  # the same on every rank: they all step, or none does
        sum_loss = getattr(loss_fn, "reduction", "mean") == "sum"
        allreduce_gradients(optimizer.params, count, "sum" if sum_loss else "mean", total=total)
    return float(totals[1]), [float(t) for t in totals[2:]], total


def _any(flag):
    """True on every rank when ``flag`` is true on any rank (one small allreduce)."""
    return bool(allreduce_sum(np.array([1 if flag else 0], np.int64))[0] > 0)


def _evaluate(model, x, y, loss_fn, metric_fns):
    """The validation loss and metrics of ``(x, y)`` evaluated sharded over the ranks and reduced as
    (sum, count): each sample counted once, none padded. Returns {"loss": ..., name: ...} like
    ``Sequential.evaluate``."""
    part = shard(x.shape[0])
    sums = np.zeros(2 + len(metric_fns))
    if part.stop > part.start:
        xb, yb = x[part], y[part]
        out = model.predict(xb)
        value, _ = loss_fn(out, yb)
        count = xb.shape[0]
        sum_loss = getattr(loss_fn, "reduction", "mean") == "sum"
        sums[:] = [count, float(value) if sum_loss else float(value) * count] + [m.sum(yb, out) for m in metric_fns]
    sums = allreduce_sum(sums)
    count = sums[0]
    sum_loss = getattr(loss_fn, "reduction", "mean") == "sum"
    result = {"loss": float(sums[1] if sum_loss else sums[1] / count)}
    result.update({m.name: float(total / count) for m, total in zip(metric_fns, sums[2:])})
    return result


__all__ = ["init", "rank", "size", "is_root", "barrier", "shard", "broadcast_parameters",
           "broadcast_optimizer_state", "broadcast_object", "run_on_root", "root_only", "allreduce_gradients",
           "allreduce_sum", "reduce_metrics",
           "launched_size", "launched_rank", "is_launched", "available", "INSTALL_HINT"]
