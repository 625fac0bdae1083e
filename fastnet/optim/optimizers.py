"""The optimizers (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW), PyTorch-style:
``opt = optim.Adam(model.parameters(), lr=1e-3)``, then per batch ``opt.zero_grad()``, forward,
backward, ``opt.step()``.

Update rules and defaults follow the PyTorch documentation (the pseudo-code is in each class's
docstring; ``g`` is the gradient, ``theta`` the parameter, ``t`` the step count starting at 1).
Each rule is a plain function (``sgd_update``, ``adagrad_update``, ...) that updates one parameter
array and its state arrays in place; the classes only hold hyperparameters and state. Updates are
in place on ``Parameter.value`` and keep its dtype. Ordered by increasing complexity.
"""

import math
import numbers

import numpy as np

from ..kernels import optimizers as _optimizer_kernels
from ..parameter import Parameter


# ----------------------------------------------------------------------------------------------
# the update rules (in place, one parameter at a time)


#: False: every rule runs its NumPy code (the benchmarks' baseline, bench/bench_optim.py)
FUSED = True


_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _fusable(param, *arrays):
    """Whether a rule's fused kernel (:mod:`fastnet.kernels.optimizers`) takes the update: ``param``
    and every array given (None: a state the rule does not use) C-contiguous float32 or float64,
    of param's dtype and shape. Anything else takes the rule's NumPy code. (A plain loop: the
    generator expression it replaces took 1.7 us a parameter, of an SGD step's 5.)"""
    if not FUSED or param.dtype not in _FUSED_DTYPES or not param.flags.c_contiguous:
        return False
    for a in arrays:
        if a is not None and (a.dtype != param.dtype or a.shape != param.shape or not a.flags.c_contiguous):
            return False
    return True


def _flat(a, param):
    """``a`` as the 1-D view a fused kernel takes; ``param``'s for an unused (None) state."""
    return (param if a is None else a).reshape(-1)


def sgd_update(param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov, weight_decay, first_step):
    """One SGD step on ``param`` (in place). ``momentum_buffer`` is updated in place (unused if
    ``momentum == 0``). C-contiguous float32/float64 arrays of one dtype and shape take one fused,
    parallel pass (:func:`fastnet.kernels.optimizers.sgd_step`), anything else NumPy; so do the
    other rules, each with its kernel."""
    if _fusable(param, grad, momentum_buffer if momentum != 0 else None):
        scalars = np.array([lr, momentum, 1 - dampening, weight_decay], dtype=param.dtype)
        buffer = momentum_buffer if momentum != 0 else param
        _optimizer_kernels.sgd_step(param.reshape(-1), grad.reshape(-1), buffer.reshape(-1), scalars,
                                    momentum != 0, bool(nesterov), bool(first_step), weight_decay != 0)
        return
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        if nesterov:
            grad = grad + momentum * momentum_buffer
        else:
            grad = momentum_buffer
    param -= lr * grad


def adagrad_update(param, grad, state_sum, *, lr, lr_decay, weight_decay, eps, step):
    """One Adagrad step on ``param`` (in place); ``state_sum`` updated in place."""
    clr = lr / (1 + (step - 1) * lr_decay)
    if _fusable(param, grad, state_sum):
        scalars = np.array([weight_decay, clr, eps], dtype=param.dtype)
        _optimizer_kernels.adagrad_step(param.reshape(-1), grad.reshape(-1), state_sum.reshape(-1), scalars,
                                        weight_decay != 0)
        return
    if weight_decay != 0:
        grad = grad + weight_decay * param
    state_sum += grad * grad
    param -= clr * (grad / (np.sqrt(state_sum) + eps))


def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay,
                   momentum, centered):
    """One RMSprop step on ``param`` (in place); the state arrays are updated in place
    (``grad_avg`` only if ``centered``, ``momentum_buffer`` only if ``momentum > 0``)."""
    grad_avg = grad_avg if centered else None
    momentum_buffer = momentum_buffer if momentum > 0 else None
    if _fusable(param, grad, square_avg, grad_avg, momentum_buffer):
        scalars = np.array([weight_decay, alpha, 1 - alpha, eps, momentum, lr], dtype=param.dtype)
        _optimizer_kernels.rmsprop_step(param.reshape(-1), grad.reshape(-1), square_avg.reshape(-1),
                                        _flat(grad_avg, param), _flat(momentum_buffer, param), scalars,
                                        weight_decay != 0, bool(centered), momentum > 0)
        return
    if weight_decay != 0:
        grad = grad + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * (grad * grad)
    if centered:
        grad_avg *= alpha
        grad_avg += (1 - alpha) * grad
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += grad / avg
        param -= lr * momentum_buffer
    else:
        param -= lr * (grad / avg)


def adadelta_update(param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay):
    """One Adadelta step on ``param`` (in place); ``square_avg`` and ``acc_delta`` updated in place."""
    if _fusable(param, grad, square_avg, acc_delta):
        scalars = np.array([weight_decay, rho, 1 - rho, eps, lr], dtype=param.dtype)
        _optimizer_kernels.adadelta_step(param.reshape(-1), grad.reshape(-1), square_avg.reshape(-1),
                                         acc_delta.reshape(-1), scalars, weight_decay != 0)
        return
    if weight_decay != 0:
        grad = grad + weight_decay * param
    square_avg *= rho
    square_avg += (1 - rho) * (grad * grad)
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps) / std * grad
    acc_delta *= rho
    acc_delta += (1 - rho) * (delta * delta)
    param -= lr * delta


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
                amsgrad, step):
    """One Adam step on ``param`` (in place); the moment arrays are updated in place
    (``max_exp_avg_sq`` only if ``amsgrad``)."""
    top = max_exp_avg_sq if amsgrad else None
    if _fusable(param, grad, exp_avg, exp_avg_sq, top):
        _adam_fused(param, grad, exp_avg, exp_avg_sq, top, weight_decay, weight_decay != 0, False, lr, beta1, beta2,
                    eps, step)
        return
    if weight_decay != 0:
        grad = grad + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (grad * grad)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    else:
        second = exp_avg_sq
    denom = np.sqrt(second) / math.sqrt(bias_correction2) + eps
    param -= (lr / bias_correction1) * (exp_avg / denom)


def adamw_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
                 amsgrad, step):
    """One AdamW step on ``param`` (in place): the decoupled decay ``param *= 1 - lr * weight_decay``,
    then an Adam step without L2 penalty. The moment arrays are updated in place."""
    top = max_exp_avg_sq if amsgrad else None
    if _fusable(param, grad, exp_avg, exp_avg_sq, top):
        _adam_fused(param, grad, exp_avg, exp_avg_sq, top, 1 - lr * weight_decay, weight_decay != 0, True, lr, beta1,
                    beta2, eps, step)
        return
    if weight_decay != 0:
        param *= 1 - lr * weight_decay
    adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                weight_decay=0.0, amsgrad=amsgrad, step=step)


def _adam_fused(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, decay, decay_on, decoupled, lr, beta1, beta2,
                eps, step):
    """Adam's or AdamW's step by :func:`fastnet.kernels.optimizers.adam_step`; ``decay`` is Adam's
    weight_decay or AdamW's factor 1 - lr * weight_decay (applied where ``decay_on``),
    ``max_exp_avg_sq`` None without amsgrad."""
    scalars = np.array([decay, beta1, 1 - beta1, beta2, 1 - beta2, math.sqrt(1 - beta2 ** step), eps,
                        lr / (1 - beta1 ** step)], dtype=param.dtype)
    _optimizer_kernels.adam_step(param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
                                 _flat(max_exp_avg_sq, param), scalars, decay_on, decoupled,
                                 max_exp_avg_sq is not None)


# ----------------------------------------------------------------------------------------------
# the state-holding classes


def _number(value, name, minimum=None, maximum=None, strict_min=False, strict_max=False):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    if minimum is not None and (value < minimum or (strict_min and value == minimum)):
        op = ">" if strict_min else ">="
        raise ValueError(f"Invalid {name} value: {value} (expected {name} {op} {minimum})")
    if maximum is not None and (value > maximum or (strict_max and value == maximum)):
        op = "<" if strict_max else "<="
        raise ValueError(f"Invalid {name} value: {value} (expected {name} {op} {maximum})")
    return value


class Optimizer:
    """Base class: holds the parameters, their per-parameter ``state`` and the step count.

    Parameters
    ----------
    params : iterable of Parameter
        Usually ``model.parameters()``. Must be non-empty and free of duplicates.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Parameter):
            raise TypeError("params: expected an iterable of Parameter (e.g. model.parameters()), "
                            "got a single Parameter; wrap it in a list")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params: expected an iterable of Parameter, got {type(params).__name__}") from None
        if not params:
            raise ValueError("params: optimizer got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"params: expected Parameter objects, got {type(p).__name__} at index {i}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("params: the same Parameter appears more than once")
        self.params = params
        self.defaults = dict(defaults)
        self.state = [dict() for _ in params]
        self.step_count = 0

    @property
    def lr(self):
        """The learning rate; assign to change it between steps (as a schedule does)."""
        return self.defaults["lr"]

    @lr.setter
    def lr(self, value):
        self.defaults["lr"] = _number(value, "lr", minimum=0.0)

    def zero_grad(self):
        """Set every parameter's gradient to zero (:meth:`fastnet.parameter.Parameter.zero_grad`)."""
        for p in self.params:
            p.zero_grad()

    def step(self):
        """Update every parameter from its current ``.grad``."""
        self.step_count += 1
        for p, state in zip(self.params, self.state):
            self._update(p, state)

    def _update(self, p, state):  # pragma: no cover - abstract
        raise NotImplementedError

    def __getattr__(self, name):
        defaults = self.__dict__.get("defaults")
        if defaults is not None and name in defaults:
            return defaults[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional (Nesterov) momentum and weight decay.

    With the defaults it is the lectures' gradient descent, ``theta <- theta - lr * g``.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float >= 0, default 1e-3 (PyTorch's default too)
    momentum : float, default 0
    dampening : float, default 0
    weight_decay : float, default 0 (L2 penalty)
    nesterov : bool, default False (needs momentum > 0 and dampening == 0)

    Notes
    -----
    Algorithm (PyTorch's)::

        for t = 1, 2, ...:
            g = grad + weight_decay * theta                      (if weight_decay != 0)
            if momentum != 0:
                b = g                          if t == 1
                b = momentum * b + (1 - dampening) * g   otherwise
                g = g + momentum * b           if nesterov
                g = b                          otherwise
            theta = theta - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        lr = _number(lr, "lr", minimum=0.0)
        momentum = _number(momentum, "momentum", minimum=0.0)
        dampening = _number(dampening, "dampening")
        weight_decay = _number(weight_decay, "weight_decay", minimum=0.0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov: expected a bool, got {type(nesterov).__name__}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov: Nesterov momentum requires momentum > 0 and dampening == 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, state):
        d = self.defaults
        first = "momentum_buffer" not in state
        if d["momentum"] != 0 and first:
            state["momentum_buffer"] = np.zeros_like(p.value)
        sgd_update(p.value, p.grad, state.get("momentum_buffer"), lr=d["lr"], momentum=d["momentum"],
                   dampening=d["dampening"], nesterov=d["nesterov"], weight_decay=d["weight_decay"],
                   first_step=first)


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011).

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1e-2
    lr_decay : float, default 0
    weight_decay : float, default 0
    initial_accumulator_value : float, default 0
    eps : float, default 1e-10

    Notes
    -----
    Algorithm (PyTorch's)::

        state_sum = initial_accumulator_value
        for t = 1, 2, ...:
            g = grad + weight_decay * theta                      (if weight_decay != 0)
            lr_t = lr / (1 + (t - 1) * lr_decay)
            state_sum = state_sum + g * g
            theta = theta - lr_t * g / (sqrt(state_sum) + eps)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        lr = _number(lr, "lr", minimum=0.0)
        lr_decay = _number(lr_decay, "lr_decay", minimum=0.0)
        weight_decay = _number(weight_decay, "weight_decay", minimum=0.0)
        initial_accumulator_value = _number(initial_accumulator_value, "initial_accumulator_value", minimum=0.0)
        eps = _number(eps, "eps", minimum=0.0)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))
        for p, state in zip(self.params, self.state):
            state["step"] = 0
            state["sum"] = np.full_like(p.value, initial_accumulator_value)

    def _update(self, p, state):
        d = self.defaults
        state["step"] += 1
        adagrad_update(p.value, p.grad, state["sum"], lr=d["lr"], lr_decay=d["lr_decay"],
                       weight_decay=d["weight_decay"], eps=d["eps"], step=state["step"])


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), optionally centered and with momentum.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1e-2
    alpha : float, default 0.99 (smoothing constant)
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum : float, default 0
    centered : bool, default False (normalise by an estimate of the gradient's variance)

    Notes
    -----
    Algorithm (PyTorch's)::

        v = 0, g_ave = 0, b = 0
        for t = 1, 2, ...:
            g = grad + weight_decay * theta                      (if weight_decay != 0)
            v = alpha * v + (1 - alpha) * g * g
            if centered:
                g_ave = alpha * g_ave + (1 - alpha) * g
                v_tilde = v - g_ave * g_ave
            else:
                v_tilde = v
            if momentum > 0:
                b = momentum * b + g / (sqrt(v_tilde) + eps)
                theta = theta - lr * b
            else:
                theta = theta - lr * g / (sqrt(v_tilde) + eps)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        lr = _number(lr, "lr", minimum=0.0)
        alpha = _number(alpha, "alpha", minimum=0.0)
        eps = _number(eps, "eps", minimum=0.0)
        weight_decay = _number(weight_decay, "weight_decay", minimum=0.0)
        momentum = _number(momentum, "momentum", minimum=0.0)
        if not isinstance(centered, bool):
            raise TypeError(f"centered: expected a bool, got {type(centered).__name__}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))
        for p, state in zip(self.params, self.state):
            state["square_avg"] = np.zeros_like(p.value)
            state["grad_avg"] = np.zeros_like(p.value) if centered else None
            state["momentum_buffer"] = np.zeros_like(p.value) if momentum > 0 else None

    def _update(self, p, state):
        d = self.defaults
        rmsprop_update(p.value, p.grad, state["square_avg"], state["grad_avg"], state["momentum_buffer"],
                       lr=d["lr"], alpha=d["alpha"], eps=d["eps"], weight_decay=d["weight_decay"],
                       momentum=d["momentum"], centered=d["centered"])


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012).

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1.0 (scales the delta before it is applied)
    rho : float, default 0.9 (in [0, 1])
    eps : float, default 1e-6
    weight_decay : float, default 0

    Notes
    -----
    Algorithm (PyTorch's)::

        v = 0, u = 0
        for t = 1, 2, ...:
            g = grad + weight_decay * theta                      (if weight_decay != 0)
            v = rho * v + (1 - rho) * g * g
            delta = sqrt(u + eps) / sqrt(v + eps) * g
            u = rho * u + (1 - rho) * delta * delta
            theta = theta - lr * delta
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        lr = _number(lr, "lr", minimum=0.0)
        rho = _number(rho, "rho", minimum=0.0, maximum=1.0)
        eps = _number(eps, "eps", minimum=0.0)
        weight_decay = _number(weight_decay, "weight_decay", minimum=0.0)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))
        for p, state in zip(self.params, self.state):
            state["square_avg"] = np.zeros_like(p.value)
            state["acc_delta"] = np.zeros_like(p.value)

    def _update(self, p, state):
        d = self.defaults
        adadelta_update(p.value, p.grad, state["square_avg"], state["acc_delta"], lr=d["lr"], rho=d["rho"],
                        eps=d["eps"], weight_decay=d["weight_decay"])


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), optionally AMSGrad.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999), each in [0, 1)
    eps : float, default 1e-8
    weight_decay : float, default 0 (L2 penalty added to the gradient, not AdamW's decoupled decay)
    amsgrad : bool, default False

    Notes
    -----
    Algorithm (PyTorch's)::

        m = 0, v = 0, v_max = 0
        for t = 1, 2, ...:
            g = grad + weight_decay * theta                      (if weight_decay != 0)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            if amsgrad: v_max = max(v_max, v); s = v_max  else: s = v
            theta = theta - (lr / (1 - beta1^t)) * m / (sqrt(s) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        lr = _number(lr, "lr", minimum=0.0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas: expected a pair of floats, got {betas!r}")
        beta1 = _number(betas[0], "betas[0]", minimum=0.0, maximum=1.0, strict_max=True)
        beta2 = _number(betas[1], "betas[1]", minimum=0.0, maximum=1.0, strict_max=True)
        eps = _number(eps, "eps", minimum=0.0)
        weight_decay = _number(weight_decay, "weight_decay", minimum=0.0)
        if not isinstance(amsgrad, bool):
            raise TypeError(f"amsgrad: expected a bool, got {type(amsgrad).__name__}")
        super().__init__(params, dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))
        for p, state in zip(self.params, self.state):
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.value)
            state["exp_avg_sq"] = np.zeros_like(p.value)
            state["max_exp_avg_sq"] = np.zeros_like(p.value) if amsgrad else None

    _rule = staticmethod(adam_update)   # AdamW: adamw_update (the same state, decoupled decay)

    def _update(self, p, state):
        d = self.defaults
        state["step"] += 1
        beta1, beta2 = d["betas"]
        self._rule(p.value, p.grad, state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"],
                   lr=d["lr"], beta1=beta1, beta2=beta2, eps=d["eps"], weight_decay=d["weight_decay"],
                   amsgrad=d["amsgrad"], step=state["step"])


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, optionally AMSGrad.

    Unlike ``Adam(weight_decay=...)``, which adds ``weight_decay * theta`` to the gradient (and so
    lets the adaptive denominator rescale the decay), AdamW shrinks the parameter directly before
    the Adam step. Same defaults as ``torch.optim.AdamW``.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999), each in [0, 1)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2 (decoupled decay coefficient, >= 0)
    amsgrad : bool, default False

    Notes
    -----
    Algorithm (PyTorch's)::

        m = 0, v = 0, v_max = 0
        for t = 1, 2, ...:
            theta = theta - lr * weight_decay * theta
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            if amsgrad: v_max = max(v_max, v); s = v_max  else: s = v
            theta = theta - (lr / (1 - beta1^t)) * m / (sqrt(s) / sqrt(1 - beta2^t) + eps)
    """

    _rule = staticmethod(adamw_update)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "sgd_update", "adagrad_update",
           "rmsprop_update", "adadelta_update", "adam_update", "adamw_update"]
