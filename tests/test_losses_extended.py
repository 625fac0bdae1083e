"""binary_cross_entropy_with_logits / nll_loss / l1_loss / huber_loss and cross_entropy with
label_smoothing and weight: reference loops, PyTorch (forward and gradient, float32 and float64),
float64 central differences, numerics at huge values (no NumPy warning), the Loss classes and
bad input."""

import warnings

import numpy as np
import pytest

from fastnet import losses, ops
from fastnet.reference import naive
from helpers import DTYPES, assert_close, assert_gradient, rng

SHAPES = [(1,), (7,), (3, 4), (2, 3, 5), (9_001,)]


def _regression(shape, dtype, seed=0):
    g = rng(seed)
    pred = (g.standard_normal(shape) * 2).astype(dtype)
    target = (g.standard_normal(shape) * 2).astype(dtype)
    return pred, target


def _binary(shape, dtype, seed=0):
    g = rng(seed)
    return (g.standard_normal(shape) * 3).astype(dtype), (g.random(shape) < 0.4).astype(dtype)


def _log_probs(n, c, dtype, seed=0):
    g = rng(seed)
    x = g.standard_normal((n, c)) * 2
    x = x - np.log(np.exp(x).sum(1, keepdims=True))
    return x.astype(dtype), g.integers(0, c, size=n)


ELEMENTWISE = [
    ("l1_loss", ops.l1_loss, naive.l1_loss, _regression, {}),
    ("huber_loss", ops.huber_loss, naive.huber_loss, _regression, {}),
    ("huber_loss-delta0.3", ops.huber_loss, naive.huber_loss, _regression, dict(delta=0.3)),
    ("bce_with_logits", ops.binary_cross_entropy_with_logits, naive.binary_cross_entropy_with_logits, _binary, {}),
]
EL_IDS = [e[0] for e in ELEMENTWISE]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name, fn, ref, data, kwargs", ELEMENTWISE, ids=EL_IDS)
def test_elementwise_matches_reference(name, fn, ref, data, kwargs, shape, dtype):
    pred, target = data(shape, dtype)
    loss, dpred = fn(pred, target, **kwargs)
    ref_loss, ref_dpred = ref(pred, target, **kwargs)
    assert isinstance(loss, dtype)
    assert_close(dpred, ref_dpred, dtype)
    assert_close(loss, ref_loss, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6,), (4, 3)], ids=str)
def test_bce_pos_weight_matches_reference(shape, dtype):
    logits, target = _binary(shape, dtype, seed=1)
    pos_weight = rng(2).uniform(0.2, 5.0, shape[-1])
    loss, dlogits = ops.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
    ref_loss, ref_d = naive.binary_cross_entropy_with_logits(logits, target, pos_weight)
    assert_close(loss, ref_loss, dtype)
    assert_close(dlogits, ref_d, dtype)
    scalar_loss, _ = ops.binary_cross_entropy_with_logits(logits, target, pos_weight=3.0)
    assert_close(scalar_loss, naive.binary_cross_entropy_with_logits(logits, target, 3.0)[0], dtype)


def _torch_elementwise(torch, name, pred, target, kwargs):
    F = torch.nn.functional
    p = torch.from_numpy(pred.copy()).requires_grad_()
    t = torch.from_numpy(target)
    if name.startswith("l1"):
        out = F.l1_loss(p, t)
    elif name.startswith("huber"):
        out = F.huber_loss(p, t, delta=kwargs.get("delta", 1.0))
    else:
        pw = kwargs.get("pos_weight")
        out = F.binary_cross_entropy_with_logits(p, t, pos_weight=None if pw is None else torch.from_numpy(pw))
    out.backward()
    return out.item(), p.grad.numpy()


TORCH_ELEMENTWISE = ELEMENTWISE + [
    ("bce_with_logits-pos_weight", ops.binary_cross_entropy_with_logits, None, _binary,
     dict(pos_weight=np.array([0.5, 2.0, 1.0, 4.0]))),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, fn, ref, data, kwargs", TORCH_ELEMENTWISE, ids=[e[0] for e in TORCH_ELEMENTWISE])
def test_elementwise_matches_torch(name, fn, ref, data, kwargs, dtype):
    torch = pytest.importorskip("torch")
    pred, target = data((5, 4), dtype, seed=3)
    if "pos_weight" in kwargs:
        kwargs = dict(pos_weight=kwargs["pos_weight"].astype(dtype))
    loss, dpred = fn(pred, target, **kwargs)
    t_loss, t_grad = _torch_elementwise(torch, name, pred, target, kwargs)
    assert_close(loss, t_loss, dtype)
    assert_close(dpred, t_grad, dtype)


@pytest.mark.parametrize("name, fn, ref, data, kwargs", TORCH_ELEMENTWISE, ids=[e[0] for e in TORCH_ELEMENTWISE])
def test_elementwise_gradient_float64(name, fn, ref, data, kwargs):
    pred, target = data((3, 4), np.float64, seed=4)
    # keep the differences away from the kinks of |d| and of Huber's clip
    _, dpred = fn(pred, target, **kwargs)
    assert_gradient(dpred, lambda p: fn(p, target, **kwargs)[0], pred.copy(), np.float64(1.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_stable_at_huge_logits(dtype):
    logits = np.array([1e4, -1e4, 1e4, -1e4, 0.0, 50.0], dtype=dtype)
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 1.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            loss, d = ops.binary_cross_entropy_with_logits(logits, target)
    # per element: 0, 0, 1e4, 1e4, log 2, log1p(e^-50)
    expected = (2e4 + np.log(2.0) + np.log1p(np.exp(-50.0))) / 6
    assert_close(loss, expected, dtype)
    assert_close(d, np.array([0, 0, 1, -1, 0, -np.exp(-50.0) / (1 + np.exp(-50.0))]) / 6, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos_weight", [None, 2.5])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_bce_keeps_relative_accuracy_of_tiny_terms(label, pos_weight, dtype):
    """Loss and gradient of each element against float64 formulas, relative to their own size,
    for logits whose terms span 1e-13..30: no cancellation (x + max(-x, 0), 1 - sigmoid(-x))."""
    from scipy.special import expit
    x = np.linspace(-30, 30, 121).astype(dtype)
    y = np.full_like(x, label)
    p = 1.0 if pos_weight is None else pos_weight
    xd = x.astype(np.float64)
    want_loss = (1 - label) * np.logaddexp(0, xd) + p * label * np.logaddexp(0, -xd)
    want_grad = (1 - label) * expit(xd) - p * label * expit(-xd)
    rtol = 4e-7 if dtype == np.float32 else 1e-13
    _, grad = ops.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight)
    np.testing.assert_allclose(grad * x.size, want_grad, rtol=rtol)
    losses = [ops.binary_cross_entropy_with_logits(x[i:i + 1], y[i:i + 1], pos_weight=pos_weight)[0]
              for i in range(x.size)]
    np.testing.assert_allclose(np.array(losses, np.float64), want_loss, rtol=rtol)


@pytest.mark.parametrize("name, fn, ref, data, kwargs", ELEMENTWISE, ids=EL_IDS)
def test_elementwise_nan_propagates(name, fn, ref, data, kwargs):
    pred, target = data((4, 5), np.float32, seed=5)
    pred[1, 2] = np.nan
    loss, dpred = fn(pred, target, **kwargs)
    assert np.isnan(loss) and np.isnan(dpred[1, 2]) and np.isfinite(dpred).sum() == pred.size - 1


def test_values_by_hand():
    pred = np.array([0.0, 2.0, -3.0, 0.5])
    target = np.array([0.0, 0.0, 0.0, 0.0])
    loss, d = ops.l1_loss(pred, target)
    assert loss == 5.5 / 4 and np.array_equal(d, [0.0, 0.25, -0.25, 0.25])
    loss, d = ops.huber_loss(pred, target)            # 0, 1.5, 2.5, 0.125
    assert loss == pytest.approx(4.125 / 4) and np.allclose(d, [0.0, 0.25, -0.25, 0.125])
    loss, d = ops.binary_cross_entropy_with_logits(np.array([0.0]), np.array([1.0]))
    assert loss == pytest.approx(np.log(2.0)) and d[0] == pytest.approx(-0.5)


# ---- class-index losses -------------------------------------------------------------------------

CE_CASES = [dict(label_smoothing=0.1), dict(weight="w"), dict(label_smoothing=0.3, weight="w"),
            dict(label_smoothing=1.0, weight="w")]


def _weights(c, dtype, seed=9):
    return rng(seed).uniform(0.1, 3.0, c).astype(dtype)


def _resolve(kwargs, c, dtype):
    return {k: (_weights(c, dtype) if v == "w" else v) for k, v in kwargs.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (17, 10), (3, 100)], ids=str)
@pytest.mark.parametrize("kwargs", CE_CASES, ids=str)
def test_cross_entropy_options_match_reference(kwargs, shape, dtype):
    g = rng(1)
    logits = (g.standard_normal(shape) * 3).astype(dtype)
    labels = g.integers(0, shape[1], size=shape[0])
    kw = _resolve(kwargs, shape[1], dtype)
    loss, d = ops.cross_entropy(logits, labels, **kw)
    ref_loss, ref_d = naive.cross_entropy_weighted(logits, labels, **kw)
    assert isinstance(loss, dtype)
    assert_close(loss, ref_loss, dtype)
    assert_close(d, ref_d, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", CE_CASES, ids=str)
def test_cross_entropy_options_match_torch(kwargs, dtype):
    torch = pytest.importorskip("torch")
    g = rng(2)
    logits = (g.standard_normal((9, 5)) * 3).astype(dtype)
    labels = g.integers(0, 5, size=9)
    kw = _resolve(kwargs, 5, dtype)
    lt = torch.from_numpy(logits.copy()).requires_grad_()
    w = kw.get("weight")
    out = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.from_numpy(w),
                                    label_smoothing=kw.get("label_smoothing", 0.0))(lt, torch.from_numpy(labels))
    out.backward()
    loss, d = ops.cross_entropy(logits, labels, **kw)
    assert_close(loss, out.item(), dtype)
    assert_close(d, lt.grad.numpy(), dtype)
    cls_loss, cls_d = losses.CrossEntropy(**kw)(logits, labels)
    assert cls_loss == loss and np.array_equal(cls_d, d)


@pytest.mark.parametrize("kwargs", CE_CASES, ids=str)
def test_cross_entropy_options_gradient_float64(kwargs):
    g = rng(3)
    logits = g.standard_normal((4, 5))
    labels = g.integers(0, 5, size=4)
    kw = _resolve(kwargs, 5, np.float64)
    _, d = ops.cross_entropy(logits, labels, **kw)
    assert_gradient(d, lambda v: ops.cross_entropy(v, labels, **kw)[0], logits.copy(), np.float64(1.0))


def test_cross_entropy_default_path_unchanged():
    """label_smoothing=0 with unit weights goes through the weighted kernel and must agree with the
    plain kernel (the default path) to rounding."""
    logits = (rng(4).standard_normal((6, 7)) * 4).astype(np.float32)
    labels = rng(5).integers(0, 7, 6)
    plain = ops.cross_entropy(logits, labels)
    weighted = ops.cross_entropy(logits, labels, weight=np.ones(7, np.float32))
    assert_close(weighted[0], plain[0], np.float32)
    assert_close(weighted[1], plain[1], np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_smoothing_stable_at_large_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            loss, d = ops.cross_entropy(logits, np.array([0, 2]), label_smoothing=0.1)
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert_close(loss, naive.cross_entropy_weighted(logits.astype(np.float64), np.array([0, 2]), 0.1)[0], dtype)


NLL_CASES = [dict(), dict(weight="w"), dict(ignore_index=2), dict(weight="w", ignore_index=0),
             dict(ignore_index=-100)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", NLL_CASES, ids=str)
def test_nll_matches_reference_and_torch(kwargs, dtype):
    log_probs, labels = _log_probs(11, 4, dtype, seed=6)
    if kwargs.get("ignore_index") == -100:
        labels[[1, 5]] = -100
    kw = _resolve(kwargs, 4, dtype)
    loss, d = ops.nll_loss(log_probs, labels, **kw)
    ref_loss, ref_d = naive.nll_loss(log_probs, labels, **kw)
    assert isinstance(loss, dtype)
    assert_close(loss, ref_loss, dtype)
    assert_close(d, ref_d, dtype)
    torch = pytest.importorskip("torch")
    lt = torch.from_numpy(log_probs.copy()).requires_grad_()
    w = kw.get("weight")
    out = torch.nn.functional.nll_loss(lt, torch.from_numpy(labels), weight=None if w is None else torch.from_numpy(w),
                                       ignore_index=kw.get("ignore_index", -100))
    out.backward()
    assert_close(loss, out.item(), dtype)
    assert_close(d, lt.grad.numpy(), dtype)


def test_nll_gradient_float64_and_all_ignored():
    log_probs, labels = _log_probs(5, 3, np.float64, seed=7)
    w = _weights(3, np.float64)
    _, d = ops.nll_loss(log_probs, labels, weight=w)
    assert_gradient(d, lambda v: ops.nll_loss(v, labels, weight=w)[0], log_probs.copy(), np.float64(1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, _ = ops.nll_loss(log_probs, np.full(5, 1), ignore_index=1)
    assert np.isnan(loss)   # 0 / 0, as torch


def test_nll_of_log_softmax_equals_cross_entropy():
    g = rng(8)
    logits = g.standard_normal((6, 4))
    labels = g.integers(0, 4, 6)
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert_close(ops.nll_loss(log_probs, labels)[0], ops.cross_entropy(logits, labels)[0], np.float64)


# ---- huge losses: inf/NaN, never a NumPy warning --------------------------------------------------

HUGE = [
    ("mse_loss", lambda v: ops.mse_loss(v, np.zeros_like(v))),
    ("squared_error", lambda v: ops.squared_error(v, np.zeros_like(v))),
    ("l1_loss", lambda v: ops.l1_loss(v, -v)),
    ("huber_loss", lambda v: ops.huber_loss(v, -v)),
    ("bce_with_logits", lambda v: ops.binary_cross_entropy_with_logits(v, -np.ones_like(v))),   # 2x per element
    ("cross_entropy", lambda v: ops.cross_entropy(np.stack([v, -v], 1), np.ones(v.size, int))),
    ("cross_entropy-smoothing", lambda v: ops.cross_entropy(np.stack([v, -v], 1), np.ones(v.size, int),
                                                            label_smoothing=0.2)),
    # a mean of log-probabilities cannot overflow; a probability of 0 (log -inf) gives inf quietly
    ("nll_loss", lambda v: ops.nll_loss(np.stack([v * 0, -v * np.inf], 1), np.ones(v.size, int))),
]


@pytest.mark.parametrize("name, call", HUGE, ids=[h[0] for h in HUGE])
def test_huge_loss_is_inf_without_numpy_warning(name, call):
    """The issue's SGD(lr=1e6): the float32 loss overflows; it must become inf (fit then reports it)
    with no 'overflow encountered in cast' RuntimeWarning on the way."""
    v = np.full(8, 3e38, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, _ = call(v)
    assert loss.dtype == np.float32 and not np.isfinite(loss)


def test_fit_with_huge_learning_rate_warns_nothing():
    """The issue's case through fit: SGD(lr=1e6) on the sigmoid-neuron data in float32 overflows the
    MSE at epoch 4. What reaches the user is fit's FloatingPointError, with no NumPy RuntimeWarning
    ("overflow encountered in cast") before it."""
    from fastnet import Sequential, datasets, layers, optim
    x, y = datasets.toy_sigmoid(np.float32)
    model = Sequential([layers.Dense(1, 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match="inf"):
            model.fit(x, y, losses.MSE(), optim.SGD(model.parameters(), lr=1e6), epochs=50, progress=False)


# ---- the Loss classes and losses.get --------------------------------------------------------------

@pytest.mark.parametrize("name, cls, classification", [
    ("bce_with_logits", losses.BCEWithLogits, False), ("nll", losses.NLL, True), ("l1", losses.L1, False),
    ("mae", losses.L1, False), ("huber", losses.Huber, False), ("cross_entropy", losses.CrossEntropy, True),
])
def test_get_by_name_and_classification_flag(name, cls, classification):
    loss = losses.get(name)
    assert type(loss) is cls and loss.classification is classification
    assert losses.get(cls.__name__).__class__ is cls


def test_classes_call_the_ops():
    pred, target = _regression((3, 4), np.float64, seed=10)
    assert losses.Huber(delta=0.5)(pred, target)[0] == ops.huber_loss(pred, target, delta=0.5)[0]
    assert losses.L1()(pred, target)[0] == ops.l1_loss(pred, target)[0]
    logits, t = _binary((3, 4), np.float64)
    pw = np.array([1.0, 2.0, 3.0, 4.0])
    assert (losses.BCEWithLogits(pos_weight=pw)(logits, t)[0]
            == ops.binary_cross_entropy_with_logits(logits, t, pos_weight=pw)[0])
    log_probs, labels = _log_probs(5, 4, np.float32)
    assert losses.NLL(ignore_index=labels[0])(log_probs, labels)[0] == ops.nll_loss(log_probs, labels,
                                                                                   ignore_index=labels[0])[0]
    w = [1.0, 2.0, 0.5, 1.0]
    loss = losses.CrossEntropy(label_smoothing=0.2, weight=w)
    assert loss.get_config() == {"label_smoothing": 0.2, "weight": w}
    assert repr(loss) == "CrossEntropy(label_smoothing=0.2, weight=[1.0, 2.0, 0.5, 1.0])"
    assert losses.Huber(2.0).get_config() == {"delta": 2.0}


L = np.zeros((3, 4), np.float32)
BAD = [
    (ValueError, r"label_smoothing: expected a finite number in \[0.0, 1.0\], got 1.5",
     lambda: ops.cross_entropy(L, np.array([0, 1, 2]), label_smoothing=1.5)),
    (ValueError, r"label_smoothing", lambda: losses.CrossEntropy(label_smoothing=-0.1)),
    (ValueError, r"weight: expected shape \(4,\) \(one weight per class\), got \(3,\)",
     lambda: ops.cross_entropy(L, np.array([0, 1, 2]), weight=np.ones(3))),
    (ValueError, r"weight: expected finite weights >= 0",
     lambda: ops.cross_entropy(L, np.array([0, 1, 2]), weight=np.array([1.0, -1.0, 1.0, 1.0]))),
    (TypeError, r"weight: expected real numbers, got dtype bool",
     lambda: ops.nll_loss(L, np.array([0, 1, 2]), weight=np.ones(4, bool))),
    (ValueError, r"weight: expected a 1-D array", lambda: losses.CrossEntropy(weight=np.ones((2, 2)))),
    (ValueError, r"labels: expected every label in \[0, 4\) \(or ignore_index=-100\), got 7 at index 1",
     lambda: ops.nll_loss(L, np.array([0, 7, -100]), ignore_index=-100)),
    (ValueError, r"labels: expected every label in \[0, 4\), got -100 at index 2",
     lambda: ops.nll_loss(L, np.array([0, 1, -100]))),
    (TypeError, r"ignore_index: expected None or an int, got float",
     lambda: ops.nll_loss(L, np.array([0, 1, 2]), ignore_index=1.0)),
    (TypeError, r"ignore_index", lambda: losses.NLL(ignore_index="none")),
    (TypeError, r"labels: expected an integer dtype, got float64: class indices", lambda: ops.nll_loss(L, np.zeros(3))),
    (ValueError, r"log_probs: expected a 2-D array, got 1-D", lambda: ops.nll_loss(L[0], np.array([0]))),
    (ValueError, r"target: expected shape \(3, 4\), got \(3,\)",
     lambda: ops.binary_cross_entropy_with_logits(L, np.zeros(3, np.float32))),
    (TypeError, r"target: expected dtype float32 or float64, got int64",
     lambda: ops.binary_cross_entropy_with_logits(L, np.zeros((3, 4), np.int64))),
    (TypeError, r"target: dtype float64 does not match logits dtype float32",
     lambda: ops.binary_cross_entropy_with_logits(L, np.zeros((3, 4)))),
    (ValueError, r"pos_weight: shape \(3,\) does not broadcast to logits' shape \(3, 4\); use one weight per class",
     lambda: ops.binary_cross_entropy_with_logits(L, L, pos_weight=np.ones(3))),
    (ValueError, r"pos_weight: expected finite weights",
     lambda: ops.binary_cross_entropy_with_logits(L, L, pos_weight=np.array([1.0, np.nan, 1.0, 1.0]))),
    (TypeError, r"pos_weight: expected None, a number or a numpy.ndarray, got str",
     lambda: ops.binary_cross_entropy_with_logits(L, L, pos_weight="2")),
    (ValueError, r"delta: expected a finite number > 0.0, got 0.0", lambda: ops.huber_loss(L, L, delta=0.0)),
    (ValueError, r"delta", lambda: losses.Huber(delta=-1)),
    (TypeError, r"delta: expected a real number, got str", lambda: ops.huber_loss(L, L, delta="1")),
    (TypeError, r"pred: expected dtype float32 or float64, got int64",
     lambda: ops.l1_loss(np.zeros(3, np.int64), np.zeros(3))),
    (ValueError, r"target: expected shape \(3,\), got \(4,\)", lambda: ops.l1_loss(np.zeros(3), np.zeros(4))),
    (ValueError, r"pred: expected at least one element", lambda: ops.huber_loss(np.zeros(0), np.zeros(0))),
]


@pytest.mark.parametrize("error, message, call", BAD, ids=[f"{i}-{m[:25]}" for i, (_, m, _) in enumerate(BAD)])
def test_bad_inputs(error, message, call):
    with pytest.raises(error, match=message):
        call()
