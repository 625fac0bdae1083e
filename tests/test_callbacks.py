"""fastnet.callbacks, exercised through fit: hooks and their 1-based epochs, ModelCheckpoint, CSVLogger,
TerminateOnNaN, LearningRateScheduler and the adapter for PyTorch-style schedulers."""

import csv
import os

import numpy as np
import pytest

import fastnet
from fastnet import callbacks, datasets, optim, zoo
from fastnet.callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler, LRSchedulerCallback,
                               ModelCheckpoint, TerminateOnNaN)


@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = datasets.load_digits(seed=0)
    return (x[:200], y[:200]), (xt[:100], yt[:100])


def mlp(seed=0):
    return zoo.mlp((64, 10), seed=seed)


def test_callbacks_importable_from_everywhere():
    import fastnet.model
    for name in ("Callback", "History", "EarlyStopping", "LearningRateScheduler"):
        assert getattr(fastnet, name) is getattr(callbacks, name) is getattr(fastnet.model, name)
    for name in ("ModelCheckpoint", "CSVLogger", "TerminateOnNaN", "LRSchedulerCallback"):
        assert getattr(fastnet, name) is getattr(callbacks, name)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, model):
        self.calls.append("train_begin")

    def on_epoch_begin(self, model, epoch):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_begin(self, model, batch):
        self.calls.append(("batch_begin", batch))

    def on_batch_end(self, model, batch, logs):
        self.calls.append(("batch_end", batch, logs["size"]))

    def on_epoch_end(self, model, epoch, logs):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, model):
        self.calls.append("train_end")


def test_hooks_order_and_1_based_epochs(digits):
    (x, y), _ = digits
    model = mlp()
    rec = Recorder()
    history = model.fit(x[:50], y[:50], "cross_entropy", optim.SGD(model.parameters(), lr=0.1), epochs=2,
                        batch_size=20, verbose=0, callbacks=[rec])
    keys = ["accuracy", "loss", "samples_per_second", "seconds"]
    per_epoch = lambda e: [("epoch_begin", e), ("batch_begin", 1), ("batch_end", 1, 20), ("batch_begin", 2),  # noqa: E731
                           ("batch_end", 2, 20), ("batch_begin", 3), ("batch_end", 3, 10), ("epoch_end", e, keys)]
    assert rec.calls == ["train_begin"] + per_epoch(1) + per_epoch(2) + ["train_end"]
    assert history.epoch == [1, 2]


def test_stop_training_from_a_batch_hook(digits):
    (x, y), _ = digits

    class StopAfterTwoBatches(Callback):
        def on_batch_end(self, model, batch, logs):
            if batch == 2:
                model.stop_training = True

    model = mlp()
    rec = Recorder()
    history = model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), epochs=3, batch_size=20,
                        verbose=0, callbacks=[StopAfterTwoBatches(), rec])
    assert history.epoch == [1]
    assert [c for c in rec.calls if c[0] == "batch_end"] == [("batch_end", 1, 20), ("batch_end", 2, 20)]


def test_model_checkpoint_every_epoch(digits, tmp_path):
    (x, y), (xt, yt) = digits
    model = mlp()

    class Weights(Callback):
        def __init__(self):
            self.after = []

        def on_epoch_end(self, model, epoch, logs):
            self.after.append(model.get_weights())

    weights = Weights()
    ckpt = ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.npz", save_best_only=False)
    model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), epochs=3, verbose=0,
              validation_data=(xt, yt), callbacks=[weights, ckpt])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01.npz", "ckpt-02.npz", "ckpt-03.npz"]  # no temp file left
    assert ckpt.saved == [str(tmp_path / f"ckpt-{e:02d}.npz") for e in (1, 2, 3)]
    for epoch, expected in enumerate(weights.after, 1):
        for a, b in zip(fastnet.load(tmp_path / f"ckpt-{epoch:02d}.npz").get_weights(), expected):
            np.testing.assert_array_equal(a, b)


def test_model_checkpoint_best_only(digits, tmp_path):
    (x, y), (xt, yt) = digits
    model = zoo.mlp((64, 32, 10), activation="relu", seed=0)
    path = tmp_path / "best.npz"
    ckpt = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # a large learning rate makes the validation loss go up and down
    history = model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=2.0), epochs=12, batch_size=20,
                        seed=0, verbose=0, validation_data=(xt, yt), callbacks=[ckpt, stopper])
    val = history["val_loss"]
    improvements = [e for e in range(1, len(val) + 1) if val[e - 1] < min(val[:e - 1], default=np.inf)]
    assert len(ckpt.saved) == len(improvements) and ckpt.best_epoch == improvements[-1]
    assert ckpt.best_epoch == stopper.best_epoch == int(np.argmin(val)) + 1
    best = fastnet.load(path)
    for a, b in zip(best.get_weights(), model.get_weights()):  # EarlyStopping restored the same epoch
        np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path) == ["best.npz"]


def test_model_checkpoint_errors(digits, tmp_path):
    (x, y), _ = digits
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="monitor='val_loss'.*validation_data"):
        model.fit(x, y, "cross_entropy", opt, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "m.npz",
                                                                                    save_best_only=True)])
    with pytest.raises(ValueError, match="cannot format path.*val_acc"):
        model.fit(x, y, "cross_entropy", opt, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "{val_acc}.npz"))])
    with pytest.raises(TypeError, match="path"):
        ModelCheckpoint(3)
    with pytest.raises(ValueError, match="mode"):
        ModelCheckpoint("m.npz", mode="best")
    assert os.listdir(tmp_path) == []


def test_csv_logger(digits, tmp_path):
    (x, y), (xt, yt) = digits
    model = mlp()
    path = tmp_path / "log.csv"
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = model.fit(x, y, "cross_entropy", opt, epochs=3, verbose=0, validation_data=(xt, yt),
                        callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "samples_per_second",
                             "seconds"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [float(r[key]) for r in rows] == history[key]  # repr round-trips floats exactly
    model.fit(x, y, "cross_entropy", opt, epochs=2, verbose=0, validation_data=(xt, yt),
              callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 1, 2]
    model.fit(x, y, "cross_entropy", opt, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    assert path.read_text().splitlines()[0] == "epoch;loss;accuracy;samples_per_second;seconds"
    assert os.listdir(tmp_path) == ["log.csv"]
    with pytest.raises(ValueError, match="separator"):
        CSVLogger(path, separator=";;")


def test_terminate_on_nan(digits):
    x, y = datasets.toy_sigmoid()
    x, y = np.repeat(x, 8, axis=0) * 1e3, np.repeat(y, 8, axis=0) * 1e3
    model = fastnet.Sequential([fastnet.layers.Dense(1, 4, dtype=np.float64, seed=0), fastnet.layers.ReLU(),
                                fastnet.layers.Dense(4, 1, dtype=np.float64, seed=1)])
    stop = TerminateOnNaN()
    history = model.fit(x, y, "mse", optim.SGD(model.parameters(), lr=1e6), epochs=50, batch_size=4, verbose=0,
                        callbacks=[stop])
    assert stop.stopped_epoch == len(history.epoch) < 50 and stop.stopped_batch >= 1
    assert not np.isfinite(history["loss"][-1])
    assert all(np.isfinite(w).all() for w in model.get_weights())  # the bad batch's step was skipped


def test_learning_rate_scheduler_gets_1_based_epochs(digits):
    (x, y), _ = digits
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.1 / epoch

    history = model.fit(x, y, "cross_entropy", opt, epochs=3, verbose=0, callbacks=[LearningRateScheduler(opt, schedule)])
    assert seen == [1, 2, 3] and history["lr"] == [0.1, 0.05, 0.1 / 3]


class StepDown:
    """A StepLR-like duck type: step() halves the lr every `every` calls."""

    def __init__(self, optimizer, every=1):
        self.optimizer, self.every, self.calls = optimizer, every, 0

    def step(self):
        self.calls += 1
        if self.calls % self.every == 0:
            self.optimizer.lr = self.optimizer.lr / 2


class Plateau:
    """A ReduceLROnPlateau-like duck type: step(metric) records the metric."""

    def __init__(self, optimizer):
        self.optimizer, self.metrics = optimizer, []

    def step(self, metrics):
        self.metrics.append(metrics)
        self.optimizer.lr = self.optimizer.lr * 0.5


def test_lr_scheduler_callback_step(digits):
    (x, y), _ = digits
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.4)
    sched = StepDown(opt, every=2)
    history = model.fit(x, y, "cross_entropy", opt, epochs=5, verbose=0, callbacks=[LRSchedulerCallback(sched)])
    assert sched.calls == 5
    assert history["lr"] == [0.4, 0.4, 0.2, 0.2, 0.1]  # the lr each epoch ran with
    assert opt.lr == 0.1  # halved after epochs 2 and 4


def test_lr_scheduler_callback_metric(digits):
    (x, y), (xt, yt) = digits
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.4)
    plateau = Plateau(opt)
    cb = LRSchedulerCallback(plateau)
    assert cb.monitor == "val_loss"  # step needs a metric: val_loss by default
    history = model.fit(x, y, "cross_entropy", opt, epochs=3, verbose=0, validation_data=(xt, yt), callbacks=[cb])
    assert plateau.metrics == history["val_loss"]
    plateau = Plateau(opt)
    model.fit(x, y, "cross_entropy", opt, epochs=2, verbose=0, callbacks=[LRSchedulerCallback(plateau, "loss")])
    assert len(plateau.metrics) == 2
    with pytest.raises(ValueError, match="LRSchedulerCallback: monitor='val_loss'"):
        model.fit(x, y, "cross_entropy", opt, epochs=1, verbose=0, callbacks=[LRSchedulerCallback(Plateau(opt))])
    with pytest.raises(TypeError, match="step"):
        LRSchedulerCallback(object())


def test_lr_scheduler_callback_with_fastnet_schedulers(digits):
    lr_scheduler = pytest.importorskip("fastnet.optim.lr_scheduler")
    (x, y), (xt, yt) = digits
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.4)
    history = model.fit(x, y, "cross_entropy", opt, epochs=4, verbose=0,
                        callbacks=[LRSchedulerCallback(lr_scheduler.StepLR(opt, step_size=2, gamma=0.5))])
    np.testing.assert_allclose(history["lr"], [0.4, 0.4, 0.2, 0.2])
    plateau = lr_scheduler.ReduceLROnPlateau(opt)
    cb = LRSchedulerCallback(plateau)
    assert cb.monitor == "val_loss"
    model.fit(x, y, "cross_entropy", opt, epochs=2, verbose=0, validation_data=(xt, yt), callbacks=[cb])
