"""The policy network: a small MLP from features to one score per action.

PPO reads the scores as logits, DQN as Q-values; either way the served policy takes
the arg-max, so one architecture and one artifact format serve both. It is kept
small (two hidden layers of 64) because the inference budget is 50 microseconds at
batch 1 on one CPU thread, and because 18 well-chosen features do not need more.

:class:`NumpyForward` evaluates the same weights with numpy; the bench compares it
with torch, and tests check the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

F32 = npt.NDArray[np.float32]


def batch_tensor(obs: np.ndarray, device: torch.device) -> torch.Tensor:
    """A batch of observations as a tensor, always copied into torch's aligned memory.

    The BLAS's rounding can depend on where the input starts in memory, and rollouts
    hand in views at any offset; a copy makes the forward pass depend on the values
    only, which keeps pipelined and lockstep rollouts identical bit for bit.
    """
    return torch.tensor(obs, device=device)


class PolicyNet(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = n_in
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.Tanh()]
            prev = h
        layers.append(nn.Linear(prev, n_out))
        self.net = nn.Sequential(*layers)
        self.n_in = n_in
        self.n_out = n_out
        self.hidden = tuple(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    def spec(self) -> dict[str, Any]:
        return {
            "inputs": self.n_in,
            "outputs": self.n_out,
            "hidden": list(self.hidden),
            "activation": "tanh",
        }

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.state_dict().items()}


class ValueNet(nn.Module):
    """PPO's critic; trained alongside, never shipped."""

    def __init__(self, n_in: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.body = PolicyNet(n_in, 1, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x).squeeze(-1)
        return out


class NumpyForward:
    """The same MLP in numpy (tanh hidden layers, linear output)."""

    def __init__(self, state: Mapping[str, torch.Tensor]) -> None:
        keys = sorted({k.rsplit(".", 1)[0] for k in state}, key=lambda k: int(k.split(".")[1]))
        self.layers = [
            (
                np.ascontiguousarray(state[f"{k}.weight"].detach().numpy().T, dtype=np.float32),
                state[f"{k}.bias"].detach().numpy().astype(np.float32),
            )
            for k in keys
        ]

    def __call__(self, x: F32) -> F32:
        h = x
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < last:
                h = np.tanh(h)
        return h
