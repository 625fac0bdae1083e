"""Sequential, losses, fit/evaluate/predict, callbacks, save/load, and LeNet-5 on the digits."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from fastnet import callbacks as fastnet_callbacks
from fastnet import datasets, losses, ops, optim, zoo
from fastnet.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sigmoid, Tanh
from fastnet.model import EarlyStopping, History, LearningRateScheduler, Sequential, load

from helpers import assert_close, assert_gradient, rng


def small_convnet(dtype=np.float64, seed=0):
    g = np.random.default_rng(seed)
    return Sequential([
        Conv2d(1, 2, 3, padding=1, dtype=dtype, seed=g), Tanh(),
        MaxPool2d(2),
        Flatten(),
        Dense(2 * 2 * 2, 5, dtype=dtype, seed=g), Sigmoid(),
        Dense(5, 3, dtype=dtype, seed=g),
    ])


# ---- losses -----------------------------------------------------------------------------------


def test_losses_values():
    pred = rng(0).standard_normal((4, 3))
    target = rng(1).standard_normal((4, 3))
    value, grad = losses.MSE()(pred, target)
    assert_close(value, np.mean((pred - target) ** 2), np.float64)
    value, grad = losses.SquaredError()(pred, target)
    assert_close(value, 0.5 * np.sum((pred - target) ** 2), np.float64)
    assert_close(grad, pred - target, np.float64)
    labels = np.array([0, 2, 1, 2])
    value, grad = losses.CrossEntropy()(pred, labels)
    logp = pred - np.log(np.exp(pred).sum(axis=1, keepdims=True))
    assert_close(value, -logp[np.arange(4), labels].mean(), np.float64)


@pytest.mark.parametrize("loss", [losses.MSE(), losses.SquaredError(), losses.CrossEntropy()],
                         ids=["mse", "squared_error", "cross_entropy"])
def test_loss_gradients_float64(loss):
    pred = rng(2).standard_normal((4, 3))
    target = np.array([1, 0, 2, 2]) if isinstance(loss, losses.CrossEntropy) else rng(3).standard_normal((4, 3))
    value, grad = loss(pred, target)
    assert np.ndim(value) == 0 and np.asarray(value).dtype == np.float64
    assert grad.shape == pred.shape and grad.dtype == np.float64
    assert_gradient(grad, lambda p: np.asarray(loss(p, target)[0]), pred, np.array(1.0))


def test_loss_lookup():
    assert isinstance(losses.get("mse"), losses.MSE)
    assert isinstance(losses.get(losses.CrossEntropy), losses.CrossEntropy)
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get("hinge")
    with pytest.raises(TypeError, match="loss"):
        losses.get(3)


# ---- whole-model gradient check -----------------------------------------------------------------


@pytest.mark.parametrize("loss_name", ["cross_entropy", "mse", "squared_error"])
def test_model_parameter_gradients_float64(loss_name):
    model = small_convnet()
    loss = losses.get(loss_name)
    x = rng(4).standard_normal((3, 1, 4, 4))
    target = np.array([0, 2, 1]) if loss_name == "cross_entropy" else rng(5).standard_normal((3, 3))
    model.zero_grad()
    _, dout = loss(model(x), target)
    dx = model.backward(dout)

    def objective(_):
        return np.asarray(loss(model.forward(x), target)[0])

    for p in model.parameters():
        analytic = p.grad.copy()
        assert np.any(analytic != 0)
        assert_gradient(analytic, objective, p.value, np.array(1.0))
    assert_gradient(dx, lambda v: np.asarray(loss(model.forward(v), target)[0]), x, np.array(1.0))


def test_backward_without_input_gradient_gives_the_same_parameter_gradients():
    model = small_convnet()
    loss = losses.CrossEntropy()
    x = rng(6).standard_normal((3, 1, 4, 4))
    target = np.array([1, 0, 2])
    model.zero_grad()
    model.backward(loss(model(x), target)[1])
    full = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    assert model.backward(loss(model(x), target)[1], input_grad=False) is None
    for p, want in zip(model.parameters(), full):
        assert np.array_equal(p.grad, want)
    with pytest.raises(TypeError, match="^input_grad: expected True or False, got 'no'"):
        model.backward(loss(model(x), target)[1], input_grad="no")


def test_backward_without_input_gradient_skips_the_layers_before_the_first_weights(monkeypatch):
    """An MLP on images: the Flatten in front is not run backward and the first Dense computes no
    dx (half its backward); the parameter gradients are those of the full backward."""
    model = Sequential([Flatten(), Dense(16, 8, dtype=np.float64, seed=0), Sigmoid(),
                        Dense(8, 3, dtype=np.float64, seed=1)])
    loss = losses.CrossEntropy()
    x = rng(7).standard_normal((5, 1, 4, 4))
    target = np.array([1, 0, 2, 2, 1])
    model.zero_grad()
    model.backward(loss(model(x), target)[1])
    full = [p.grad.copy() for p in model.parameters()]
    flags = []
    dense_backward = ops.dense_backward

    def spy(*args, input_grad=True, **kwargs):
        flags.append(input_grad)
        return dense_backward(*args, input_grad=input_grad, **kwargs)

    def not_run(*args, **kwargs):
        raise AssertionError("Flatten.backward ran")

    monkeypatch.setattr(ops, "dense_backward", spy)
    monkeypatch.setattr(model.layers[0], "backward", not_run)
    model.zero_grad()
    assert model.backward(loss(model(x), target)[1], input_grad=False) is None
    assert flags == [True, False]
    for p, want in zip(model.parameters(), full):
        np.testing.assert_allclose(p.grad, want, rtol=1e-12, atol=1e-15)


# ---- the PyTorch-style API ------------------------------------------------------------------------


def test_manual_training_loop_reduces_loss():
    (x, y), _ = datasets.load_digits(seed=0, flatten=True)
    x, y = x[:256], y[:256]
    model = zoo.mlp((64, 32, 10), activation="tanh", seed=0)
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loss_fn = losses.CrossEntropy()
    first = None
    for epoch in range(5):
        for xb, yb in datasets.batches(x, y, 32, shuffle=True, seed=epoch):
            opt.zero_grad()
            value, dlogits = loss_fn(model(xb), yb)
            model.backward(dlogits)
            opt.step()
            first = float(value) if first is None else first
    assert loss_fn(model(x), y)[0] < 0.5 * first


def test_parameters_zero_grad_train_eval():
    model = small_convnet()
    params = model.parameters()
    assert len(params) == 6
    assert params[0] is model.layers[0].weight and params[1] is model.layers[0].bias
    assert model.num_parameters() == 2 * 9 + 2 + 8 * 5 + 5 + 5 * 3 + 3
    for p in params:
        p.grad += 1
    model.zero_grad()
    assert all(not p.grad.any() for p in params)
    assert model.eval() is model and not model.training and not model.layers[0].training
    model.train()
    assert model.training and all(layer.training for layer in model.layers)
    assert len(model) == 7 and isinstance(model[0], Conv2d)
    assert "Conv2d(1, 2, kernel_size=3, padding=1)" in repr(model)


def test_summary():
    text = zoo.lenet5().summary((1, 8, 8))
    assert "(N, 6, 8, 8)" in text and "(N, 16, 2, 2)" in text and "(N, 64)" in text and "(N, 10)" in text
    assert "Total params: 19,754" in text
    assert "60" in text.splitlines()[4]  # conv1: 6 * 9 + 6
    printed = []
    zoo.mlp((64, 10)).summary(64, print_fn=printed.append)
    assert "Total params: 650" in printed[0]
    with pytest.raises(ValueError, match="input shape"):
        zoo.lenet5().summary((3, 8, 8))


def test_constructor_errors():
    with pytest.raises(TypeError, match="layers"):
        Sequential(Dense(2, 2))
    with pytest.raises(TypeError, match="index 1"):
        Sequential([Dense(2, 2), "relu"])


def test_zoo():
    lenet = zoo.lenet5(dtype=np.float64, seed=1)
    assert lenet.dtype == np.float64
    assert lenet(np.zeros((2, 1, 8, 8))).shape == (2, 10)
    np.testing.assert_array_equal(zoo.lenet5(seed=3).get_weights()[0], zoo.lenet5(seed=3).get_weights()[0])
    classic = zoo.lenet5(input_size=28)
    assert classic.summary((1, 28, 28)).count("Total params: 61,706") == 1
    net = zoo.mlp((64, 20, 10), activation="relu")
    assert [type(layer).__name__ for layer in net.layers] == ["Flatten", "Dense", "ReLU", "Dense"]
    with pytest.raises(ValueError, match="activation"):
        zoo.mlp(activation="swish")
    with pytest.raises(ValueError, match="sizes"):
        zoo.mlp((10,))


# ---- fit ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_small():
    (x, y), (xt, yt) = datasets.load_digits(seed=0)
    return (x[:400], y[:400]), (xt[:200], yt[:200])


def fit_lenet(data, seed, epochs=2):
    (x, y), (xt, yt) = data
    model = zoo.lenet5(seed=0)
    history = model.fit(x, y, losses.CrossEntropy(), optim.Adam(model.parameters(), lr=2e-3), epochs=epochs,
                        batch_size=32, seed=seed, validation_data=(xt, yt), verbose=0)
    return model, history


def test_fit_is_deterministic(digits_small):
    a, ha = fit_lenet(digits_small, seed=1)
    b, hb = fit_lenet(digits_small, seed=1)
    c, _ = fit_lenet(digits_small, seed=2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert ha["loss"] == hb["loss"]
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


def test_fit_history(digits_small):
    model, history = fit_lenet(digits_small, seed=0, epochs=3)
    assert isinstance(history, History) and history.epoch == [1, 2, 3]  # 1-based, as on the bar
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "samples_per_second", "seconds"):
        assert len(history[key]) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert 0 <= history["val_accuracy"][-1] <= 1
    (x, y), (xt, yt) = digits_small
    ev = model.evaluate(xt, yt, losses.CrossEntropy())
    assert ev["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    assert ev["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    assert not model.training  # fit leaves the model in eval mode
    pred = model.predict(xt, batch_size=64)
    assert pred.shape == (200, 10) and pred.dtype == np.float32
    assert_close(pred, model.predict(xt), np.float32)  # batch size changes only the rounding
    assert model.evaluate(xt, yt) == {"accuracy": ev["accuracy"]}


def test_fit_progress_bar(digits_small, capsys):
    (x, y), _ = digits_small
    model = zoo.mlp((64, 10), seed=0)
    model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=100)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "samples/s" in err and "loss" in err
    model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_full_batch_sum_loss_epoch_value():
    x, y = datasets.toy_sigmoid()
    model = Sequential([Dense(1, 1, dtype=np.float64, seed=0), Sigmoid()])
    before = float(losses.SquaredError()(model(x), y)[0])
    h = model.fit(x, y, losses.SquaredError(), optim.SGD(model.parameters(), lr=1.0), epochs=1, batch_size=None, verbose=0)
    assert h["loss"][0] == before  # the loss of the (only) batch, before the step
    assert "accuracy" not in h.history


@pytest.mark.parametrize("bad", ["nan_input", "huge_lr"])
def test_fit_stops_on_non_finite_loss(bad):
    x, y = datasets.toy_sigmoid()
    model = Sequential([Dense(1, 4, dtype=np.float64, seed=0), ReLU(), Dense(4, 1, dtype=np.float64, seed=1)])
    if bad == "nan_input":
        x = x.copy()
        x[0, 0] = np.nan
        lr = 0.1
    else:
        x, y = x * 1e3, y * 1e3
        lr = 1e6
    if bad == "nan_input":  # found up front, before any training, naming the sample
        with pytest.raises(ValueError, match=r"x: .*NaN.*index \(0, 0\) \(sample 0\)") as info:
            model.fit(x, y, losses.MSE(), optim.SGD(model.parameters(), lr=lr), epochs=50, verbose=0)
        assert "learning rate" not in str(info.value)
        return
    with pytest.raises(FloatingPointError, match="loss became.*lower the learning rate"):
        model.fit(x, y, losses.MSE(), optim.SGD(model.parameters(), lr=lr), epochs=50, verbose=0)


def test_fit_argument_errors(digits_small):
    (x, y), _ = digits_small
    model = zoo.mlp((64, 10), seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    ce = losses.CrossEntropy()
    with pytest.raises(ValueError, match="epochs"):
        model.fit(x, y, ce, opt, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, ce, opt, batch_size=0)
    with pytest.raises(ValueError, match="y"):
        model.fit(x, y[:10], ce, opt)
    with pytest.raises(TypeError, match="optimizer"):
        model.fit(x, y, ce, 3)
    with pytest.raises(ValueError, match="optimizer: unknown optimizer 'adamx'"):
        model.fit(x, y, ce, "adamx")
    with pytest.raises(ValueError, match="none of this model"):
        model.fit(x, y, ce, optim.SGD(zoo.mlp((64, 10)).parameters(), lr=0.1))
    with pytest.raises(TypeError, match="validation_data"):
        model.fit(x, y, ce, opt, validation_data=x)
    with pytest.raises(TypeError, match="callbacks"):
        model.fit(x, y, ce, opt, callbacks=[print])
    with pytest.raises(TypeError, match="float32"):
        model.fit(x.astype(np.float64), y, ce, opt, verbose=0)


def test_early_stopping_restores_best_weights(digits_small):
    (x, y), (xt, yt) = digits_small
    model = zoo.mlp((64, 32, 10), activation="relu", seed=0)
    # a learning rate this large makes the validation loss bounce, so it stops early
    stopper = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=3.0), epochs=30, batch_size=50,
                        seed=0, validation_data=(xt, yt), progress=False, callbacks=[stopper])
    n = len(history.epoch)
    assert n < 30 and stopper.stopped_epoch == n == history.epoch[-1]  # 1-based, as on the bar
    assert stopper.best_epoch == int(np.argmin(history["val_loss"])) + 1
    assert model.evaluate(xt, yt, "cross_entropy")["loss"] == pytest.approx(min(history["val_loss"]), rel=1e-5)


def test_early_stopping_errors(digits_small):
    (x, y), _ = digits_small
    model = zoo.mlp((64, 10), seed=0)
    with pytest.raises(ValueError, match="val_loss.*validation_data"):
        model.fit(x, y, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), epochs=2, progress=False,
                  callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    assert EarlyStopping("val_accuracy").mode == "max"


def test_learning_rate_scheduler(digits_small):
    (x, y), _ = digits_small
    model = zoo.mlp((64, 10), seed=0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    h = model.fit(x, y, "cross_entropy", opt, epochs=4, progress=False,
                  callbacks=[LearningRateScheduler(opt, "cosine", epochs=4)])
    np.testing.assert_allclose(h["lr"], [0.01 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)])
    with pytest.raises(ValueError, match="epochs"):
        LearningRateScheduler(opt, "cosine")
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0


# ---- save / load --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(tmp_path, dtype):
    model = small_convnet(dtype=dtype, seed=4)
    for p in model.parameters():
        p.value[...] = rng(9).standard_normal(p.value.shape)
    path = tmp_path / "model.npz"
    model.save(path)
    again = load(path)
    assert [repr(a) for a in again.layers] == [repr(b) for b in model.layers]
    for a, b in zip(model.get_weights(), again.get_weights()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    x = rng(1).standard_normal((2, 1, 4, 4)).astype(dtype)
    np.testing.assert_array_equal(model(x), again(x))
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    model.save(str(path))  # overwrite in place
    assert os.listdir(tmp_path) == ["model.npz"]
    # the usual permissions for a new file (umask applied), not the temporary file's 0600
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


def test_save_load_every_layer_kind(tmp_path):
    from fastnet.layers import Conv3d, MaxPool3d
    model = Sequential([Conv3d(1, 2, (3, 3, 1), stride=(1, 2, 1), padding=(1, 0, 0), seed=0), ReLU(),
                        MaxPool3d((2, 1, 1)), Flatten(), Dense(2 * 2 * 2 * 3, 4, bias=False, seed=1), Tanh(),
                        Dense(4, 2, seed=2), Sigmoid()])
    model.save(tmp_path / "m.npz")
    again = load(tmp_path / "m.npz")
    x = rng(0).standard_normal((2, 1, 4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(model(x), again(x))
    assert again.layers[4].bias is None


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "good.npz"
    zoo.mlp((4, 3, 2), seed=0).save(path)
    return path


def rewrite(path, out, arch=None, drop=None, extra=None):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != drop}
    if arch is not None:
        arrays["__fastnet_architecture__"] = np.frombuffer(json.dumps(arch).encode(), np.uint8)
    arrays.update(extra or {})
    np.savez(out, **arrays)
    return out


def architecture(path):
    with np.load(path) as data:
        return json.loads(data["__fastnet_architecture__"].tobytes())


def test_load_bad_files(saved, tmp_path):
    raw = saved.read_bytes()
    cases = {}
    (tmp_path / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    cases["truncated.npz"] = "corrupt/truncated"
    corrupt = bytearray(raw)
    # flip bytes inside the first stored member's data (the zip CRC check catches it)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        info = zf.infolist()[1]  # param_0000: 128-byte .npy header, then 48 bytes of data
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + len(info.filename) + extra_len + 130  # past the .npy header
    for i in range(start, start + 8):
        corrupt[i] ^= 0xFF
    (tmp_path / "corrupt.npz").write_bytes(bytes(corrupt))
    cases["corrupt.npz"] = "CRC check failed"
    (tmp_path / "text.npz").write_text("hello, I am not a model")
    cases["text.npz"] = "not a fastnet model file"
    np.save(tmp_path / "array.npy", np.zeros(3))
    cases["array.npy"] = "single .npy array"
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    cases["other.npz"] = "no fastnet architecture"
    arch = architecture(saved)
    rewrite(saved, tmp_path / "future.npz", arch=dict(arch, version=99))
    cases["future.npz"] = "version 99"
    rewrite(saved, tmp_path / "format.npz", arch=dict(arch, format="keras"))
    cases["format.npz"] = "not a fastnet model file"
    rewrite(saved, tmp_path / "missing.npz", drop="param_0001")
    cases["missing.npz"] = "weight arrays"
    rewrite(saved, tmp_path / "shape.npz", extra={"param_0000": np.zeros((5, 5), np.float32)})
    cases["shape.npz"] = "weight 0 has shape"
    rewrite(saved, tmp_path / "dtype.npz", extra={"param_0000": np.zeros((3, 4), np.float64)})
    cases["dtype.npz"] = "float64"
    bad_layer = dict(arch, layers=[{"class": "os.system", "config": {}}])
    rewrite(saved, tmp_path / "layer.npz", arch=bad_layer)
    cases["layer.npz"] = "unknown layer class"
    bad_config = dict(arch, layers=[{"class": "Dense", "config": {"in_features": -4, "out_features": 3}}])
    rewrite(saved, tmp_path / "config.npz", arch=bad_config)
    cases["config.npz"] = "bad configuration"
    for name, match in cases.items():
        with pytest.raises(ValueError, match=match):
            load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing-here.npz")


def test_save_rejects_custom_layers(tmp_path):
    class MyDense(Dense):
        pass
    with pytest.raises(TypeError, match="cannot be saved"):
        Sequential([MyDense(2, 2)]).save(tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


# ---- compile / fit (Keras style), metrics, verbose, the distributed seam -------------------------


def test_compile_then_fit(digits_small):
    (x, y), (xt, yt) = digits_small
    model = zoo.mlp((64, 10), seed=0)
    assert model.compile("cross_entropy", "adam", metrics=["accuracy", "top_3_accuracy"]) is model
    history = model.fit(x, y, epochs=2, verbose=0, seed=0)
    assert history.epoch == [1, 2]
    assert set(history.history) == {"loss", "accuracy", "top_3_accuracy", "samples_per_second", "seconds", "compile_seconds"}
    assert all(a <= b for a, b in zip(history["accuracy"], history["top_3_accuracy"]))
    assert isinstance(model._compiled[1], optim.Adam)
    ev = model.evaluate(xt, yt)  # the compiled loss and metrics
    assert set(ev) == {"loss", "accuracy", "top_3_accuracy"}


def test_epoch_metrics_are_sample_averages():
    # lr = 0: the weights never change, so the epoch's training loss and metrics (accumulated batch
    # by batch as sums over uneven batches) equal evaluate's on the same data
    (x, y), _ = datasets.load_digits(seed=0)
    x, y = x[:103], y[:103]
    model = zoo.mlp((64, 10), seed=0)
    model.compile(losses.CrossEntropy(), optim.SGD(model.parameters(), lr=0.0), metrics=["accuracy", "top_2_accuracy"])
    history = model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    ev = model.evaluate(x, y)
    for key in ("loss", "accuracy", "top_2_accuracy"):
        assert history[key][0] == pytest.approx(ev[key], rel=1e-5)


def test_regression_metrics_and_sum_loss():
    g = rng(3)
    x = g.standard_normal((40, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = Sequential([Dense(3, 1, dtype=np.float64, seed=0)])
    model.compile("mse", optim.SGD(model.parameters(), lr=0.0), metrics=["mae"])
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    pred = model.predict(x)
    assert history["mae"][0] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-12)
    assert history["loss"][0] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-12)
    assert "accuracy" not in history.history  # the default metrics add accuracy only for classification
    model.compile("squared_error", optim.SGD(model.parameters(), lr=0.0))
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert history["loss"][0] == pytest.approx(0.5 * np.sum((pred - y) ** 2), rel=1e-12)  # sum losses: the sum


def test_fit_arguments_override_compile(digits_small):
    (x, y), _ = digits_small
    model = zoo.mlp((64, 10), seed=0)
    model.compile("mse", "sgd")
    frozen = optim.SGD(model.parameters(), lr=0.0)
    before = model.get_weights()
    h = model.fit(x, y, loss="cross_entropy", optimizer=frozen, verbose=0, seed=0)
    assert "accuracy" in h.history  # cross-entropy, not the compiled mse
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the lr=0 optimizer, not the compiled one
    h2 = model.fit(x, y, "cross_entropy", frozen, verbose=0, seed=0)  # the older positional form
    assert h2["loss"] == h["loss"]


def test_fit_without_loss_or_with_positional_numbers(digits_small):
    (x, y), _ = digits_small
    model = zoo.mlp((64, 10), seed=0)
    with pytest.raises(TypeError, match=r"no loss; call model.compile\(loss, optimizer\)"):
        model.fit(x, y, epochs=1)
    with pytest.raises(TypeError, match="no optimizer"):
        model.fit(x, y, loss="cross_entropy")
    with pytest.raises(TypeError, match="third positional argument is the loss.*by keyword"):
        model.fit(x, y, 32, 10)
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile("cross_entropy", "adam", metrics=["f1"])
    with pytest.raises(TypeError, match="distributed: expected True or False"):  # the MPI path: test_distributed.py
        model.fit(x, y, "cross_entropy", "adam", distributed="yes")
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, "cross_entropy", "adam", verbose=3)
    with pytest.raises(TypeError, match="verbose= or the deprecated progress="):
        model.fit(x, y, "cross_entropy", "adam", verbose=2, progress=False)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, "cross_entropy", "adam", validation_split=1.0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(x[:3], y[:3], "cross_entropy", "adam", validation_split=0.9)


def test_validation_split_holds_out_the_last_samples(digits_small):
    (x, y), _ = digits_small
    model = zoo.mlp((64, 10), seed=0)
    model.compile("cross_entropy", optim.SGD(model.parameters(), lr=0.0))
    rec = []

    class Sizes(fastnet_callbacks.Callback):
        def on_batch_end(self, model, batch, logs):
            rec.append(logs["size"])

    h = model.fit(x, y, epochs=1, batch_size=None, validation_split=0.25, verbose=0, callbacks=[Sizes()])
    assert rec == [300]  # batch_size=None: one full batch of the 300 training samples
    ev = model.evaluate(x[300:], y[300:])
    assert h["val_loss"][0] == pytest.approx(ev["loss"]) and h["val_accuracy"][0] == ev["accuracy"]
    h = model.fit(x, y, epochs=1, validation_split=0.25, validation_data=(x[:10], y[:10]), verbose=0)
    assert h["val_loss"][0] == pytest.approx(model.evaluate(x[:10], y[:10])["loss"])  # validation_data wins


def test_fit_checks_every_array_for_nan_up_front(digits_small):
    (x, y), (xt, yt) = digits_small
    model = zoo.mlp((64, 10), seed=0)
    bad = x.copy()
    bad[7, 0, 2, 3] = np.inf
    with pytest.raises(ValueError, match=r"x: the data holds 1 non-finite.*inf at index \(7, 0, 2, 3\) \(sample 7\)"):
        model.fit(bad, y, "cross_entropy", "adam", verbose=0)
    badv = xt.copy()
    badv[-1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"validation_data\[0\]: .*sample 199"):
        model.fit(x, y, "cross_entropy", "adam", verbose=0, validation_data=(badv, yt))
    with pytest.raises(ValueError, match=r"y: .*nan at index \(1, 0\) \(sample 1\)"):
        Sequential([Dense(2, 1, dtype=np.float64)]).fit(np.zeros((3, 2)), np.array([[0.0], [np.nan], [0.0]]),
                                                         "mse", "sgd", verbose=0)


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_verbose_output(digits_small, capsys):
    (x, y), (xt, yt) = digits_small
    model = zoo.mlp((64, 10), seed=0)
    model.compile("cross_entropy", optim.SGD(model.parameters(), lr=0.1))
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().err == ""
    for verbose in (1, 2):  # stderr is not a tty here: one clean line per epoch for both
        model.fit(x, y, epochs=2, verbose=verbose, validation_data=(xt, yt))
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 2 and "\r" not in "".join(lines)
        assert lines[0].startswith("epoch 1/2 - 400/400 - loss ") and lines[1].startswith("epoch 2/2")
        assert "accuracy" in lines[0] and "val_loss" in lines[0] and "samples/s" in lines[0]


def test_progress_bar_on_a_terminal(digits_small):
    from fastnet._progress import Progress
    stream = FakeTTY()
    printer = Progress(1, epochs=2, total=400, stream=stream)
    assert printer.live
    printer.begin_epoch(1)
    for seen in range(100, 401, 100):
        printer.update(seen, {"loss": 1.0 / seen, "accuracy": 0.5}, rate=1234.0)
    printer.end_epoch(1, 400, {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.3, "samples_per_second": 1234.0,
                               "seconds": 0.3})
    out = stream.getvalue()
    assert "\r" in out and "epoch 1/2" in out and "400/400" in out  # redrawn in place by tqdm
    final = out.split("\r")[-1]  # the bar is cleared and the epoch's full line written
    assert final == "epoch 1/2 - 400/400 - loss 0.2500 - accuracy 0.5000 - val_loss 0.3000 - 1,234 samples/s (0.3 s)\n"
    printer = Progress(1, epochs=1, total=4, stream=io.StringIO())
    assert not printer.live  # a pipe or a file: one line per epoch instead


def test_seam_helpers():
    order = np.arange(10)[::-1].copy()
    batches_ = list(Sequential._global_batches(10, None, 4))
    assert batches_ == [slice(0, 4), slice(4, 8), slice(8, 12)]
    assert [b.tolist() for b in Sequential._global_batches(10, order, 4)] == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    assert [len(b) for b in Sequential._global_batches(10, order, 3, world=2)] == [6, 4]
    assert list(Sequential._global_batches(10, None, None)) == [slice(0, 10)]
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(Sequential._epoch_order(10, True, g1), g2.permutation(10))
    assert Sequential._epoch_order(10, False, g1) is None
    logs = Sequential._logs_from_totals(np.array([6.0, 3.0]), 4, ["accuracy"], sum_loss=False)
    assert logs == {"loss": 1.5, "accuracy": 0.75}
    assert Sequential._logs_from_totals(np.array([6.0]), 4, [], sum_loss=True) == {"loss": 6.0}


def test_train_step_returns_sums_and_leaves_the_step_to_fit():
    from fastnet.metrics import Accuracy
    g = rng(0)
    x = g.standard_normal((6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    model = Sequential([Dense(4, 3, dtype=np.float64, seed=0)])
    opt = optim.SGD(model.parameters(), lr=1.0)
    before = model.get_weights()
    loss_sum, metric_sums, count = model._train_step(x, y, losses.CrossEntropy(), opt, [Accuracy()])
    value, dout = losses.CrossEntropy()(model(x), y)
    assert count == 6 and loss_sum == pytest.approx(float(value) * 6, rel=1e-14)
    assert metric_sums == [float(np.sum(np.argmax(model(x), 1) == y))]
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # no optimizer step inside
    np.testing.assert_allclose(model.layers[0].weight.grad, dout.T @ x, rtol=1e-12)


def test_compile_metrics_none_and_optimizer_names(digits_small):
    (x, y), (xt, yt) = digits_small
    model = zoo.mlp((64, 10), seed=0)
    model.compile(losses.CrossEntropy, "RMSprop", metrics=None)
    assert isinstance(model._compiled[1], optim.RMSprop) and model._compiled[1].params == model.parameters()
    h = model.fit(x, y, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "samples_per_second", "seconds", "compile_seconds"}
    assert set(model.evaluate(xt, yt)) == {"loss"}
    assert set(model.evaluate(xt, yt, metrics=["top_2_accuracy"])) == {"loss", "top_2_accuracy"}
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; expected one of .*'adam'"):
        model.compile("cross_entropy", "lbfgs")
