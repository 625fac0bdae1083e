"""Optimizers: trajectories against NumPy recurrences written out here and against torch.optim.

The "loss" is a fixed quadratic, so the gradient depends on the parameter and errors compound over
steps: grad(theta) = A * (theta - target) + shift(t), with A, target and the shifts seeded.
"""

import math

import numpy as np
import pytest

from fastnet import optim
from fastnet.parameter import Parameter

from helpers import assert_close

SHAPE = (3, 4)
STEPS = [1, 10]


def problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    theta0 = rng.standard_normal(SHAPE).astype(dtype)
    scale = rng.uniform(0.5, 2.0, SHAPE).astype(dtype)
    target = rng.standard_normal(SHAPE).astype(dtype)
    shifts = rng.standard_normal((12,) + SHAPE).astype(dtype) * 0.1
    return theta0, scale, target, shifts


def gradient(theta, t, scale, target, shifts):
    """Gradient at step t (0-based)."""
    return scale * (theta - target) + shifts[t]


def run_fastnet(cls, kwargs, steps, dtype=np.float64, seed=0):
    theta0, scale, target, shifts = problem(seed, dtype)
    p = Parameter(theta0)
    value_id = id(p.value)
    opt = cls([p], **kwargs)
    for t in range(steps):
        opt.zero_grad()
        p.grad += gradient(p.value, t, scale, target, shifts)
        opt.step()
    assert id(p.value) == value_id, "the update must be in place"
    return p.value


# ---- the recurrences, written out independently of fastnet.optim ------------------------------


def ref_sgd(steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    theta, scale, target, shifts = problem()
    buf = None
    for t in range(steps):
        g = gradient(theta, t, scale, target, shifts)
        if weight_decay:
            g = g + weight_decay * theta
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        theta = theta - lr * g
    return theta


def ref_adagrad(steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    theta, scale, target, shifts = problem()
    acc = np.full_like(theta, initial_accumulator_value)
    for t in range(steps):
        g = gradient(theta, t, scale, target, shifts)
        if weight_decay:
            g = g + weight_decay * theta
        acc = acc + g * g
        theta = theta - lr / (1 + t * lr_decay) * g / (np.sqrt(acc) + eps)
    return theta


def ref_rmsprop(steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    theta, scale, target, shifts = problem()
    v = np.zeros_like(theta)
    g_ave = np.zeros_like(theta)
    buf = np.zeros_like(theta)
    for t in range(steps):
        g = gradient(theta, t, scale, target, shifts)
        if weight_decay:
            g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v - g_ave * g_ave
        if momentum > 0:
            buf = momentum * buf + g / (np.sqrt(v_tilde) + eps)
            theta = theta - lr * buf
        else:
            theta = theta - lr * g / (np.sqrt(v_tilde) + eps)
    return theta


def ref_adadelta(steps, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    theta, scale, target, shifts = problem()
    v = np.zeros_like(theta)
    u = np.zeros_like(theta)
    for t in range(steps):
        g = gradient(theta, t, scale, target, shifts)
        if weight_decay:
            g = g + weight_decay * theta
        v = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        theta = theta - lr * delta
    return theta


def ref_adam(steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    theta, scale, target, shifts = problem()
    beta1, beta2 = betas
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    v_max = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = gradient(theta, t - 1, scale, target, shifts)
        if weight_decay:
            g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2 ** t)
        else:
            v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def ref_adamw(steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    theta, scale, target, shifts = problem()
    beta1, beta2 = betas
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    v_max = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = gradient(theta, t - 1, scale, target, shifts)
        theta = theta - lr * weight_decay * theta          # decoupled: not added to g
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - beta2 ** t)
        theta = theta - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v_hat) + eps)
    return theta


CASES = [
    ("SGD", optim.SGD, ref_sgd, dict(lr=0.1)),
    ("SGD-wd", optim.SGD, ref_sgd, dict(lr=0.1, weight_decay=0.01)),
    ("SGD-momentum", optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.9)),
    ("SGD-dampening", optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.8, dampening=0.3)),
    ("SGD-nesterov", optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adagrad", optim.Adagrad, ref_adagrad, dict(lr=0.1)),
    ("Adagrad-decay", optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.01,
                                                       initial_accumulator_value=0.1)),
    ("RMSprop", optim.RMSprop, ref_rmsprop, dict(lr=0.01)),
    ("RMSprop-centered-momentum", optim.RMSprop, ref_rmsprop, dict(lr=0.01, momentum=0.9, centered=True,
                                                                   weight_decay=0.01)),
    ("Adadelta", optim.Adadelta, ref_adadelta, dict()),
    ("Adadelta-wd", optim.Adadelta, ref_adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.01)),
    ("Adam", optim.Adam, ref_adam, dict(lr=0.01)),
    ("Adam-amsgrad", optim.Adam, ref_adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True)),
    ("AdamW", optim.AdamW, ref_adamw, dict(lr=0.01)),
    ("AdamW-strong-decay", optim.AdamW, ref_adamw, dict(lr=0.05, weight_decay=0.5)),
    ("AdamW-amsgrad", optim.AdamW, ref_adamw, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("name,cls,reference,kwargs", CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_numpy_recurrence(name, cls, reference, kwargs, steps):
    got = run_fastnet(cls, kwargs, steps)
    expected = reference(steps, **kwargs)
    assert_close(got, expected, np.float64)
    # not a tautology: the parameters moved
    assert not np.allclose(got, problem()[0])


@pytest.mark.parametrize("name,cls,reference,kwargs", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(name, cls, reference, kwargs):
    got = run_fastnet(cls, kwargs, 10, dtype=np.float32)
    assert got.dtype == np.float32
    expected = reference(10, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


TORCH_NAMES = {optim.SGD: "SGD", optim.Adagrad: "Adagrad", optim.RMSprop: "RMSprop",
               optim.Adadelta: "Adadelta", optim.Adam: "Adam", optim.AdamW: "AdamW"}


@pytest.mark.parametrize("name,cls,reference,kwargs", CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_torch(name, cls, reference, kwargs):
    torch = pytest.importorskip("torch")
    theta0, scale, target, shifts = problem()
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = getattr(torch.optim, TORCH_NAMES[cls])([p], **kwargs)
    for t in range(10):
        opt.zero_grad()
        with torch.no_grad():
            p.grad = torch.tensor(gradient(p.detach().numpy(), t, scale, target, shifts))
        opt.step()
    got = run_fastnet(cls, kwargs, 10)
    assert_close(got, p.detach().numpy(), np.float64)


def test_defaults_match_pytorch():
    p = [Parameter(np.zeros(2))]
    assert optim.SGD(p).lr == 1e-3 and optim.SGD(p).momentum == 0
    assert optim.Adagrad(p).lr == 1e-2 and optim.Adagrad(p).eps == 1e-10
    r = optim.RMSprop(p)
    assert (r.lr, r.alpha, r.eps, r.momentum, r.centered) == (1e-2, 0.99, 1e-8, 0, False)
    d = optim.Adadelta(p)
    assert (d.lr, d.rho, d.eps) == (1.0, 0.9, 1e-6)
    a = optim.Adam(p)
    assert (a.lr, a.betas, a.eps, a.amsgrad) == (1e-3, (0.9, 0.999), 1e-8, False)
    w = optim.AdamW(p)
    assert (w.lr, w.betas, w.eps, w.weight_decay, w.amsgrad) == (1e-3, (0.9, 0.999), 1e-8, 1e-2, False)


def test_adamw_decay_is_decoupled_from_adam_l2():
    """With a zero gradient Adam's L2 term still moves theta through the adaptive denominator
    (by about lr per step); AdamW shrinks theta by exactly the factor 1 - lr * weight_decay."""
    p = Parameter(np.array([2.0, -4.0]))
    optim.AdamW([p], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.value, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15)
    q = Parameter(np.array([2.0, -4.0]))
    optim.Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.value, [1.9, -3.9], rtol=1e-6)


def test_plain_sgd_is_gradient_descent():
    p = Parameter(np.array([1.0, -2.0]))
    p.grad[...] = [0.5, 0.25]
    optim.SGD([p], lr=2.0).step()
    np.testing.assert_array_equal(p.value, [0.0, -2.5])


def test_zero_grad_and_several_parameters():
    a, b = Parameter(np.ones(3)), Parameter(np.ones((2, 2), np.float32))
    a.grad += 1
    b.grad += 2
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    assert a.value.dtype == np.float64 and b.value.dtype == np.float32
    assert np.all(a.value < 1) and np.all(b.value < 1)
    opt.zero_grad()
    assert not a.grad.any() and not b.grad.any()


def test_accepts_generator_of_parameters():
    params = (Parameter(np.ones(2)) for _ in range(2))
    assert len(optim.SGD(params, lr=0.1).params) == 2


INVALID = [
    (optim.SGD, dict(lr=-0.1), "lr"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), "momentum"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1), "weight_decay"),
    (optim.SGD, dict(lr=0.1, nesterov=True), "nesterov"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (optim.SGD, dict(lr=math.nan), "lr"),
    (optim.Adagrad, dict(lr=-1), "lr"),
    (optim.Adagrad, dict(lr_decay=-1), "lr_decay"),
    (optim.Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    (optim.Adagrad, dict(eps=-1), "eps"),
    (optim.RMSprop, dict(alpha=-0.1), "alpha"),
    (optim.RMSprop, dict(eps=-1e-8), "eps"),
    (optim.RMSprop, dict(momentum=-1), "momentum"),
    (optim.Adadelta, dict(rho=1.5), "rho"),
    (optim.Adadelta, dict(lr=-1), "lr"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "betas[0]"),
    (optim.Adam, dict(betas=(0.9, -0.1)), "betas[1]"),
    (optim.Adam, dict(eps=-1), "eps"),
    (optim.Adam, dict(weight_decay=-0.1), "weight_decay"),
    (optim.AdamW, dict(lr=-1e-3), "lr"),
    (optim.AdamW, dict(betas=(0.9, 1.0)), "betas[1]"),
    (optim.AdamW, dict(eps=-1), "eps"),
    (optim.AdamW, dict(weight_decay=-0.01), "weight_decay"),
]


@pytest.mark.parametrize("cls,kwargs,name", INVALID)
def test_invalid_hyperparameters_raise_value_error(cls, kwargs, name):
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        cls([Parameter(np.zeros(2))], **kwargs)


@pytest.mark.parametrize("params,exc,match", [
    ([], ValueError, "empty"),
    ([np.zeros(2)], TypeError, "Parameter"),
    (5, TypeError, "iterable"),
])
def test_invalid_params(params, exc, match):
    with pytest.raises(exc, match=match):
        optim.SGD(params, lr=0.1)


def test_single_parameter_and_duplicates_rejected():
    p = Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="single Parameter"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)


def test_wrong_type_hyperparameter():
    with pytest.raises(TypeError, match="lr"):
        optim.Adam([Parameter(np.zeros(2))], lr="fast")
    with pytest.raises(TypeError, match="amsgrad"):
        optim.AdamW([Parameter(np.zeros(2))], amsgrad=1)


def test_package_keeps_the_old_names():
    """fastnet.optim became a package: every name of the old module is still importable from it."""
    import fastnet.optim.optimizers as module
    for name in module.__all__:
        assert getattr(optim, name) is getattr(module, name)
    from fastnet.optim import SGD, Optimizer, adam_update, lr_scheduler  # noqa: F401
    assert optim.lr_scheduler.StepLR.__module__ == "fastnet.optim.lr_scheduler"


def _sgd_numpy(param, grad, buf, *, lr, momentum, dampening, nesterov, weight_decay, first_step):
    """PyTorch's SGD rule in NumPy float64 (the reference for the fused kernel)."""
    g = grad + weight_decay * param
    if momentum != 0:
        buf = g.copy() if first_step else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, buf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum, dampening, nesterov, weight_decay", [
    (0.0, 0.0, False, 0.0), (0.0, 0.0, False, 0.01), (0.9, 0.0, False, 0.0), (0.9, 0.1, False, 0.01),
    (0.9, 0.0, True, 0.001)])
@pytest.mark.parametrize("contiguous", [True, False], ids=["fused-kernel", "numpy-fallback"])
@pytest.mark.parametrize("n", [70_001, 1_001], ids=["chunks", "one-chunk"])
def test_sgd_update_fused_kernel_and_fallback_match_the_rule(dtype, momentum, dampening, nesterov, weight_decay,
                                                            contiguous, n):
    """sgd_update on C-contiguous arrays (the fused kernel: in parallel over several chunks, the
    last one short, or one chunk with no parallel region) and on strided views (NumPy) both follow
    the rule, two steps (first and later), in the arrays' dtype."""
    g = np.random.default_rng(3)
    base = g.standard_normal(2 * n).astype(dtype)
    param = base[:n].copy() if contiguous else base[::2]   # a strided view: the NumPy path
    grads = [g.standard_normal(n).astype(dtype) for _ in range(2)]
    buf = np.zeros(n, dtype) if contiguous else np.zeros(2 * n, dtype)[::2]
    want, want_buf = param.astype(np.float64), None
    for step, grad in enumerate(grads):
        kwargs = dict(lr=0.1, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                      first_step=step == 0)
        want, want_buf = _sgd_numpy(want, grad.astype(np.float64), want_buf, **kwargs)
        optim.sgd_update(param, grad, buf, **kwargs)
        assert param.dtype == dtype
        assert_close(param, want.astype(dtype), dtype)
        if momentum != 0:
            assert_close(buf, want_buf.astype(dtype), dtype)


# every rule's fused kernel against its NumPy code: (rule, state arrays it keeps, hyperparameters)
FUSED_RULES = [
    (optim.adagrad_update, ["state_sum"], dict(lr=0.1, lr_decay=0.05, weight_decay=0.0, eps=1e-10)),
    (optim.adagrad_update, ["state_sum"], dict(lr=0.1, lr_decay=0.0, weight_decay=0.01, eps=1e-10)),
    (optim.rmsprop_update, ["square_avg", "grad_avg", "momentum_buffer"],
     dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)),
    (optim.rmsprop_update, ["square_avg", "grad_avg", "momentum_buffer"],
     dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.01, momentum=0.9, centered=True)),
    (optim.adadelta_update, ["square_avg", "acc_delta"], dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0)),
    (optim.adadelta_update, ["square_avg", "acc_delta"], dict(lr=0.5, rho=0.8, eps=1e-6, weight_decay=0.01)),
    (optim.adam_update, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
     dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False)),
    (optim.adam_update, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
     dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.01, amsgrad=True)),
    (optim.adamw_update, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
     dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, amsgrad=True)),
    (optim.adamw_update, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],   # lr * weight_decay = 1: param *= 0
     dict(lr=1.0, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1.0, amsgrad=False)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule,states,hyper", FUSED_RULES,
                         ids=[f"{r.__name__}-{i}" for i, (r, _, _) in enumerate(FUSED_RULES)])
@pytest.mark.parametrize("n", [70_001, 1_001], ids=["chunks", "one-chunk"])
def test_fused_kernels_match_the_numpy_rules(rule, states, hyper, dtype, n):
    """Each rule on C-contiguous arrays (its fused kernel: in parallel over several chunks, the
    last one short, or one chunk with no parallel region) and on strided views (its NumPy code),
    three steps with a NaN gradient element in the last, against the NumPy code in float64; the
    state arrays too."""
    g = np.random.default_rng(4)
    start = g.standard_normal(n)
    grads = [g.standard_normal(n) for _ in range(3)]
    grads[2][5] = np.nan   # a NaN gradient reaches the parameter and the state, as in NumPy
    initial = 0.1 if rule is optim.adagrad_update else 0.0

    def arrays(dt, strided):
        def new(values):
            if not strided:
                return values.astype(dt)
            big = np.empty(2 * n, dt)
            big[::2] = values
            return big[::2]
        return new(start), {s: new(np.full(n, initial)) for s in states}

    runs = {"float64 numpy": arrays(np.float64, True), "fused": arrays(dtype, False), "numpy": arrays(dtype, True)}
    for step in range(3):
        for name, (param, state) in runs.items():
            dt = np.float64 if name == "float64 numpy" else dtype
            grad = grads[step].astype(dt)
            if name != "fused":
                grad = np.repeat(grad, 2)[::2]   # a strided view: every array of that run strided
            extra = {"step": step + 1} if rule is not optim.rmsprop_update and rule is not optim.adadelta_update else {}
            rule(param, grad, *state.values(), **hyper, **extra)
    want_param, want_state = runs["float64 numpy"]
    for name in ("fused", "numpy"):
        param, state = runs[name]
        assert param.dtype == dtype
        assert np.isnan(param[5]) and np.isfinite(np.delete(param, 5)).all()
        assert_close(param, want_param.astype(dtype), dtype, scale=10)
        for s in states:
            assert_close(state[s], want_state[s].astype(dtype), dtype, scale=10)
    assert not np.allclose(runs["fused"][0], start.astype(dtype))   # the parameters moved
