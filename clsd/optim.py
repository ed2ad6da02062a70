"""Optimizers: SGD with momentum and weight decay, and Adam.

An optimizer updates parameter tensors in place from their gradients:

    optimizer.step(network.parameters(), network.gradients())

Its per-parameter state (momentum buffers, Adam moments) is kept by position
in that list, so every call must pass the parameters in the same order.
The update rules are PyTorch's (``torch.optim.SGD`` and ``torch.optim.Adam``
in version 2), so that the two agree step for step.

>>> from clsd.tensor import Tensor
>>> w = Tensor([[1.0]])
>>> SGD(learning_rate=0.5).step([w], [Tensor([[2.0]])])
>>> w.tolist()
[[0.0]]
"""

import math
from operator import add, mul


def _check_number(value, name, owner, minimum=0.0, above=False, below=None):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value) and (value > minimum if above else value >= minimum)
    if below is not None:
        ok = ok and value < below
    if not ok:
        bound = f"above {minimum}" if above else f"at least {minimum}"
        if below is not None:
            bound += f" and below {below}"
        raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")
    return value


def _check_lists(parameters, gradients, owner):
    parameters = list(parameters)
    gradients = list(gradients)
    if len(parameters) != len(gradients):
        raise ValueError(
            f"{owner}.step: got {len(parameters)} parameters but {len(gradients)} gradients"
        )
    for index, (p, g) in enumerate(zip(parameters, gradients)):
        if p.shape != g.shape:
            raise ValueError(
                f"{owner}.step: parameter {index} has shape {p.shape} but its "
                f"gradient has shape {g.shape}"
            )
    return parameters, gradients


class Optimizer:
    """Base class: checks, state handling and the shared step loop."""

    name = "optimizer"

    def __init__(self, learning_rate):
        self.learning_rate = _check_number(learning_rate, "learning_rate", type(self).__name__, above=True)
        self.state = []

    def step(self, parameters, gradients):
        """Update every parameter tensor in place from its gradient."""
        parameters, gradients = _check_lists(parameters, gradients, type(self).__name__)
        self._check_state(parameters)
        self._begin_step()
        for index, (p, g) in enumerate(zip(parameters, gradients)):
            if index == len(self.state):
                self.state.append(self._new_state(p))
            self._update(p.data, g.data, self.state[index])

    def _check_state(self, parameters):
        for index, (p, slots) in enumerate(zip(parameters, self.state)):
            for rows in slots.values():
                if isinstance(rows, list) and (len(rows), len(rows[0])) != p.shape:
                    raise ValueError(
                        f"{type(self).__name__}.step: parameter {index} has shape {p.shape} "
                        f"but the optimizer state for it has shape {(len(rows), len(rows[0]))}; "
                        "pass the parameters in the same order every step"
                    )

    def _begin_step(self):
        pass

    def state_dict(self):
        """Return the settings and state as plain lists and numbers (JSON-ready)."""
        return {
            "name": self.name,
            "settings": self.settings(),
            "state": [{key: _copy(value) for key, value in slots.items()} for slots in self.state],
        }

    def load_state_dict(self, saved):
        """Restore what ``state_dict`` returned; settings must match this optimizer's."""
        if saved.get("name") != self.name:
            raise ValueError(f"{type(self).__name__}.load_state_dict: saved state is for {saved.get('name')!r}")
        # Build the restored optimizer aside and swap it in only once every
        # part has loaded, so that a bad ``saved`` leaves this one unchanged.
        restored = type(self)(**saved["settings"])
        restored.state = [{key: _copy(value) for key, value in slots.items()} for slots in saved["state"]]
        restored._after_load(saved)
        self.__dict__.update(restored.__dict__)

    def _after_load(self, saved):
        pass


def _copy(value):
    if isinstance(value, list):
        return [row[:] for row in value]
    return value


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and weight decay.

        g = grad + weight_decay * p
        v = momentum * v + g          (v = g on the first step)
        p = p - learning_rate * v     (p - learning_rate * g without momentum)
    """

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(learning_rate)
        self.momentum = _check_number(momentum, "momentum", "SGD", below=1.0)
        self.weight_decay = _check_number(weight_decay, "weight_decay", "SGD")

    def settings(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum, "weight_decay": self.weight_decay}

    def _new_state(self, parameter):
        return {"velocity": None} if self.momentum else {}

    def _update(self, p_rows, g_rows, slots):
        lr, mu, decay = self.learning_rate, self.momentum, self.weight_decay
        velocity = slots.get("velocity")
        new_velocity = []
        for i, (p, g) in enumerate(zip(p_rows, g_rows)):
            if decay:
                g = [gj + decay * pj for gj, pj in zip(g, p)]
            if mu:
                g = g[:] if velocity is None else [mu * vj + gj for vj, gj in zip(velocity[i], g)]
                new_velocity.append(g)
            p_rows[i] = [pj - lr * gj for pj, gj in zip(p, g)]
        if mu:
            slots["velocity"] = new_velocity


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction and optional L2 weight decay.

        g = grad + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        p = p - (learning_rate / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    name = "adam"

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(learning_rate)
        self.beta1 = _check_number(beta1, "beta1", "Adam", below=1.0)
        self.beta2 = _check_number(beta2, "beta2", "Adam", below=1.0)
        self.eps = _check_number(eps, "eps", "Adam", above=True)
        self.weight_decay = _check_number(weight_decay, "weight_decay", "Adam")
        self.steps = 0

    def settings(self):
        return {
            "learning_rate": self.learning_rate,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def state_dict(self):
        saved = super().state_dict()
        saved["steps"] = self.steps
        return saved

    def _after_load(self, saved):
        self.steps = saved["steps"]

    def _begin_step(self):
        self.steps += 1
        self._step_size = self.learning_rate / (1.0 - self.beta1 ** self.steps)
        self._root_correction = math.sqrt(1.0 - self.beta2 ** self.steps)

    def _new_state(self, parameter):
        rows, columns = parameter.shape
        return {"m": [[0.0] * columns for _ in range(rows)], "v": [[0.0] * columns for _ in range(rows)]}

    def _update(self, p_rows, g_rows, slots):
        b1, b2, eps, decay = self.beta1, self.beta2, self.eps, self.weight_decay
        step_size, root_correction = self._step_size, self._root_correction
        sqrt = math.sqrt
        one_minus_b1, one_minus_b2 = 1.0 - b1, 1.0 - b2
        m_rows, v_rows = slots["m"], slots["v"]
        for i, (p, g) in enumerate(zip(p_rows, g_rows)):
            if decay:
                g = list(map(add, g, [decay * pj for pj in p]))
            m = [b1 * mj + one_minus_b1 * gj for mj, gj in zip(m_rows[i], g)]
            v = [b2 * vj + one_minus_b2 * gj * gj for vj, gj in zip(v_rows[i], g)]
            m_rows[i], v_rows[i] = m, v
            # sqrt(v) is mapped in C, which saves a Python-level call per element.
            p_rows[i] = [
                pj - step_size * mj / (root / root_correction + eps)
                for pj, mj, root in zip(p, m, map(sqrt, v))
            ]


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def get_optimizer(name, learning_rate):
    """Return a new optimizer by name ("sgd" or "adam") with ``learning_rate``."""
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name (str) or an Optimizer, got {name!r}")
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        valid = ", ".join(sorted(OPTIMIZERS))
        raise ValueError(f"unknown optimizer {name!r}; valid names: {valid}") from None
    return cls(learning_rate=learning_rate)
