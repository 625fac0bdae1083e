"""Run under mpiexec: the contract of Sequential.fit(distributed=True); each rank writes OUT_DIR/rank<r>.json.

Every rank builds its model with its own seed (the broadcast must make them one model), trains
several cases and records a hash of its parameters after every optimizer step; rank 0 also trains
the single-process reference with ``batch_size * size()`` from rank 0's initial weights and the
same seed, and reports the largest parameter difference.
"""

import hashlib
import json
import os
import sys

import numpy as np

import fastnet
from fastnet import distributed as dist
from fastnet import losses, optim
from fastnet.layers import Dense, ReLU
from fastnet.callbacks import CSVLogger, ModelCheckpoint
from fastnet.model import Callback, EarlyStopping, load

N, N_VAL, FEATURES, HIDDEN, CLASSES, BATCH = 35, 11, 6, 8, 3, 4  # 35 samples: no global batch divides them


def digest(model):
    return hashlib.sha256(b"".join(p.value.tobytes() for p in model.parameters())).hexdigest()[:16]


def build(seed):
    return fastnet.Sequential([Dense(FEATURES, HIDDEN, dtype=np.float64, seed=seed), ReLU(),
                               Dense(HIDDEN, CLASSES, dtype=np.float64, seed=seed + 1)])


class Logs(Callback):
    def __init__(self):
        self.logs = []

    def on_epoch_end(self, model, epoch, logs):
        self.logs.append({k: v for k, v in logs.items() if k not in ("seconds", "samples_per_second", "compile_seconds")})


def hashing(optimizer, model, hashes):
    """Record the model's digest after every optimizer step."""
    step = optimizer.step

    def step_and_hash():
        step()
        hashes.append(digest(model))
    optimizer.step = step_and_hash
    return optimizer


CASES = {
    # name: (optimizer, loss, epochs, seed, with validation and EarlyStopping)
    "sgd_momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), losses.CrossEntropy(), 3, 0, True),
    "adam": (lambda p: optim.Adam(p, lr=0.01), losses.CrossEntropy(), 3, 5, True),
    "squared_error_sum": (lambda p: optim.SGD(p, lr=0.005), losses.SquaredError(), 2, 3, False),
    "seed_none": (lambda p: optim.Adam(p, lr=0.01), losses.CrossEntropy(), 1, None, False),
    "one_rank_stops": (lambda p: optim.Adam(p, lr=0.01), losses.CrossEntropy(), 3, 7, False),
}


class StopOnLastRank(Callback):
    """Asks to stop after epoch 1 on the last rank only: fit must stop every rank (no hang)."""

    def on_epoch_end(self, model, epoch, logs):
        if dist.rank() == dist.size() - 1:
            model.stop_training = True


def data(loss):
    rng = np.random.default_rng(0)
    x, x_val = rng.standard_normal((N, FEATURES)), rng.standard_normal((N_VAL, FEATURES))
    if isinstance(loss, losses.SquaredError):
        return x, rng.standard_normal((N, CLASSES)), x_val, rng.standard_normal((N_VAL, CLASSES))
    return x, rng.integers(0, CLASSES, N), x_val, rng.integers(0, CLASSES, N_VAL)


def train(name, distributed, batch_size, init_seed, progress=False, out_dir=None):
    make_optimizer, loss, epochs, seed, validate = CASES[name]
    model = build(init_seed)
    hashes = []
    optimizer = hashing(make_optimizer(model.parameters()), model, hashes)
    x, y, x_val, y_val = data(loss)
    logs = Logs()
    callbacks = [logs]
    if validate:  # min_delta 0.5 on the accuracy: no later epoch improves, so all stop after epoch 2 of 3
        callbacks.append(EarlyStopping("val_accuracy", patience=0, min_delta=0.5))
    if name == "one_rank_stops" and distributed:
        callbacks.append(StopOnLastRank())
    if out_dir is not None:  # files written from callbacks: by rank 0 alone
        callbacks += [ModelCheckpoint(os.path.join(out_dir, "ckpt-{epoch}.npz")),
                      CSVLogger(os.path.join(out_dir, "log.csv"))]
    history = model.fit(x, y, loss, optimizer, epochs=epochs, batch_size=batch_size, seed=seed,
                        verbose=2 if progress else 0, validation_data=(x_val, y_val) if validate else None,
                        callbacks=callbacks, distributed=distributed)
    return model, {"hashes": hashes, "final": digest(model), "logs": logs.logs, "epochs": history.epoch}


def custom_loop_matches_fit():
    """The README's custom loop, one epoch, gives bitwise the weights of fit(distributed=True)."""
    loss_fn = losses.CrossEntropy()
    x, y, _, _ = data(loss_fn)
    digests = []
    for use_fit in (True, False):
        model = build(20 + dist.rank())
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if use_fit:
            model.fit(x, y, loss_fn, opt, epochs=1, batch_size=BATCH, seed=3, verbose=0, distributed=True)
        else:
            dist.broadcast_parameters(model.parameters())
            dist.broadcast_optimizer_state(opt)
            order = np.random.default_rng(3).permutation(len(x))
            for start in range(0, len(x), BATCH * dist.size()):
                idx = order[start:start + BATCH * dist.size()]
                idx = idx[dist.shard(len(idx))]
                opt.zero_grad()
                if len(idx):
                    value, dout = loss_fn(model(x[idx]), y[idx])
                    model.backward(dout, input_grad=False)
                dist.allreduce_gradients(model.parameters(), len(idx))
                opt.step()
        digests.append(digest(model))
    return digests[0] == digests[1]


def main(out_dir):
    dist.init()
    rank, size = dist.rank(), dist.size()
    result = {"rank": rank, "size": size, "cases": {}, "reference": {}}
    trained = {}
    for name in CASES:
        first = name == "sgd_momentum"
        model, record = train(name, True, BATCH, init_seed=10 + rank, progress=first,
                              out_dir=out_dir if first else None)
        record["initial"] = digest(build(10 + rank))
        result["cases"][name] = record
        trained[name] = model
        if name == "sgd_momentum":  # one checkpoint, written by rank 0, readable by every rank after save
            path = os.path.join(out_dir, "checkpoint.npz")
            model.save(path)
            result["checkpoint_matches"] = digest(load(path)) == digest(model)
    result["custom_loop"] = custom_loop_matches_fit()
    if rank == 0:  # one process, batch_size * size, rank 0's initial weights, the same seed
        for name in CASES:
            if CASES[name][3] is None or name == "one_rank_stops":
                continue
            model, record = train(name, False, BATCH * size, init_seed=10)
            record["max_difference"] = max(float(np.max(np.abs(p.value - q.value)))
                                           for p, q in zip(model.parameters(), trained[name].parameters()))
            record["steps"] = len(record.pop("hashes"))
            result["reference"][name] = record
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
