"""The CNN layers of issue 12: gradcheck, train/eval modes, configs, save/load of BatchNorm statistics."""

import numpy as np
import pytest

import fastnet
from fastnet import losses, ops, optim
from fastnet.layers import (REGISTRY, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Dense, Dropout, Flatten,
                            GlobalAvgPool2d, LeakyReLU, MaxPool1d, ReLU, Reshape, Softmax)
from helpers import assert_close, rng

F64 = np.float64

# (layer factory, input shape): every layer in float64, checked with fastnet.gradcheck
GRADCHECK_CASES = {
    "Conv1d": (lambda: Conv1d(2, 3, 3, stride=2, padding=1, dtype=F64, seed=0), (2, 2, 7)),
    "MaxPool1d": (lambda: MaxPool1d(3, stride=2, padding=1), (2, 2, 7)),
    "AvgPool2d": (lambda: AvgPool2d(3, stride=2, padding=1), (2, 2, 5, 5)),
    "GlobalAvgPool2d": (lambda: GlobalAvgPool2d(), (2, 3, 3, 4)),
    "BatchNorm1d-2d": (lambda: BatchNorm1d(3, dtype=F64), (5, 3)),
    "BatchNorm1d-3d": (lambda: BatchNorm1d(2, dtype=F64), (3, 2, 4)),
    "BatchNorm2d": (lambda: BatchNorm2d(2, dtype=F64), (2, 2, 3, 3)),
    "BatchNorm2d-eval": (lambda: BatchNorm2d(2, dtype=F64).eval(), (2, 2, 3, 3)),
    "Dropout-eval": (lambda: Dropout(0.5, seed=0).eval(), (3, 4)),
    "Softmax": (lambda: Softmax(), (3, 5)),
    "LeakyReLU": (lambda: LeakyReLU(0.2), (3, 5)),
    "Reshape": (lambda: Reshape((2, -1)), (3, 2, 3)),
}


@pytest.mark.parametrize("name", GRADCHECK_CASES)
def test_layer_gradcheck(name):
    factory, shape = GRADCHECK_CASES[name]
    layer = factory()
    x = rng(1).permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 1.1    # distinct values: no ties
    compared = fastnet.gradcheck(layer, x, atol=1e-7, rtol=1e-6)
    assert compared[0].name == "input 0"
    assert len(compared) == 1 + len(layer.parameters())


def test_dropout_layer_modes():
    layer = Dropout(0.5, seed=3)
    x = np.ones((50, 40), np.float32)
    y = layer(x)
    assert set(np.unique(y)) == {0.0, 2.0}
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx, y)                   # same mask, same scale
    y2 = layer(x)
    assert not np.array_equal(y, y2)                       # a fresh mask each step
    np.testing.assert_array_equal(Dropout(0.5, seed=3)(x), y)   # same seed, same masks
    layer.eval()
    assert layer(x) is x and layer.backward(x) is x        # identity in eval mode
    with pytest.raises(ValueError, match="p: expected"):
        Dropout(1.0)


def test_batch_norm_layer_running_statistics():
    layer = BatchNorm2d(3, momentum=0.5)
    x = (rng(2).standard_normal((8, 3, 4, 4)) * 3 + 2).astype(np.float32)
    y = layer(x)
    assert_close(y.mean(axis=(0, 2, 3)), np.zeros(3, np.float32), np.float32, scale=10)
    expected_mean = 0.5 * x.mean(axis=(0, 2, 3))
    assert_close(layer.running_mean, expected_mean, np.float32)
    layer.eval()
    before = layer.running_mean.copy()
    y_eval = layer(x)
    np.testing.assert_array_equal(layer.running_mean, before)      # eval does not update
    ref = ops.batch_norm(x, layer.weight.value, layer.bias.value, layer.running_mean.copy(),
                         layer.running_var.copy(), False)
    np.testing.assert_array_equal(y_eval, ref)
    with pytest.raises(ValueError, match="expected 3 channels"):
        layer(x[:, :2])
    with pytest.raises(ValueError, match="4-D"):
        layer(x[:, :, 0])


def test_softmax_leaky_reshape_global_shapes():
    x = rng(3).standard_normal((2, 3, 4, 4)).astype(np.float32)
    assert GlobalAvgPool2d()(x).shape == (2, 3)
    assert GlobalAvgPool2d().output_shape((3, 4, 4)) == (3,)
    assert Reshape((3, 16))(x).shape == (2, 3, 16) and Reshape((-1,)).output_shape((3, 4, 4)) == (48,)
    with pytest.raises(ValueError, match="cannot reshape"):
        Reshape((5, -1)).output_shape((3, 4, 4))
    np.testing.assert_allclose(Softmax()(x).sum(axis=1), 1.0, rtol=1e-6)
    assert AvgPool2d(2).output_shape((3, 4, 4)) == (3, 2, 2)
    assert MaxPool1d(2).output_shape((3, 9)) == (3, 4)
    assert Conv1d(3, 5, 3).output_shape((3, 9)) == (5, 7)
    np.testing.assert_array_equal(LeakyReLU(0.1)(x), ops.leaky_relu(x, 0.1))


def _model():
    return fastnet.Sequential([
        Conv1d(1, 4, 3, padding=1, seed=0), BatchNorm1d(4), LeakyReLU(0.1), MaxPool1d(2),
        Reshape((4, 2, 4)), AvgPool2d(2, stride=1, padding=1), BatchNorm2d(4), GlobalAvgPool2d(),
        Dropout(0.3, seed=1), Dense(4, 3, seed=2), Softmax(),
    ])


def test_every_new_layer_saves_and_loads(tmp_path):
    model = _model()
    x = rng(4).standard_normal((6, 1, 16)).astype(np.float32)
    model(x)                                   # training forward: moves the running statistics
    assert not np.all(model.layers[1].running_mean == 0)
    path = tmp_path / "cnn.npz"
    model.save(path)
    loaded = fastnet.load(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert all(type(layer).__name__ in REGISTRY for layer in loaded.layers)
    for a, b in zip(model.layers, loaded.layers):
        assert a.get_config() == b.get_config()
        if hasattr(a, "buffers"):
            for key, value in a.buffers().items():
                np.testing.assert_array_equal(b.buffers()[key], value)
    model.eval()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_load_rejects_missing_statistics(tmp_path):
    model = fastnet.Sequential([BatchNorm1d(2)])
    path = tmp_path / "bn.npz"
    model.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("buffer_")}
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(ValueError, match="lacks the layers' saved statistics"):
        fastnet.load(broken)


def test_fit_trains_and_evaluate_uses_eval_mode():
    r = rng(5)
    x = r.standard_normal((64, 1, 16)).astype(np.float32)
    y = (x[:, 0, :8].sum(axis=1) > 0).astype(np.int64)
    model = fastnet.Sequential([Conv1d(1, 4, 3, padding=1, seed=0), BatchNorm1d(4), ReLU(), Flatten(),
                                Dropout(0.2, seed=1), Dense(64, 2, seed=2)])
    model.fit(x, y, losses.CrossEntropy(), optim.Adam(model.parameters(), lr=0.01), epochs=3, batch_size=16,
              seed=0, progress=False)
    assert not model.training and not model.layers[1].training       # fit leaves eval mode
    stats = model.layers[1].running_mean.copy()
    first = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), first)            # eval: deterministic (no dropout)
    np.testing.assert_array_equal(model.layers[1].running_mean, stats)
    assert model.evaluate(x, y)["accuracy"] > 0.5


def test_get_and_set_weights_carry_the_running_statistics():
    model = _model()
    x = rng(5).standard_normal((6, 1, 16)).astype(np.float32)
    fresh = model.get_weights()
    n_params = len(model.parameters())
    assert len(fresh) == n_params + 4                       # each BatchNorm's running_mean, running_var
    bn = model.layers[1]
    layer_order = [p.value for layer in model.layers[:2] for p in layer.parameters()]
    for a, b in zip(fresh, layer_order + [bn.running_mean, bn.running_var]):
        np.testing.assert_array_equal(a, b)                 # per layer: parameters, then buffers
    model(x)                                                # a training forward moves the statistics
    assert not np.array_equal(bn.running_mean, fresh[len(layer_order)])
    model.set_weights(fresh)
    np.testing.assert_array_equal(bn.running_mean, np.zeros_like(bn.running_mean))
    np.testing.assert_array_equal(bn.running_var, np.ones_like(bn.running_var))
    with pytest.raises(ValueError, match="running statistic"):
        model.set_weights(fresh[:n_params])                 # parameters alone: the old format


def test_early_stopping_restores_the_best_epochs_running_statistics():
    from fastnet.callbacks import EarlyStopping
    model = fastnet.Sequential([Dense(4, 8, seed=0), BatchNorm1d(8), Dense(8, 3, seed=1)])
    r = rng(6)
    x = r.standard_normal((40, 4)).astype(np.float32)
    y = r.integers(0, 3, 40)
    snapshots = []

    class Snapshot(fastnet.Callback):
        def on_epoch_end(self, model, epoch, logs):
            snapshots.append((logs["val_loss"], model.get_weights()))

    stopper = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=3.0), epochs=8, batch_size=8, seed=0,
              verbose=0, validation_data=(x[:20], y[:20]), callbacks=[Snapshot(), stopper])
    best = min(snapshots, key=lambda s: s[0])[1]
    assert len(best) == 8 and snapshots[-1][0] > min(s[0] for s in snapshots)
    for a, b in zip(model.get_weights(), best):
        np.testing.assert_array_equal(a, b)
