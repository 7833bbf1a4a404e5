"""A compact Double DQN in torch: replay buffer, target network, epsilon-greedy.

Same network and artifact as PPO (the served policy is the arg-max of the Q-values);
our own loop for the same reasons as :mod:`policies.ppo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from policies.network import PolicyNet, batch_tensor
from policies.vector_env import VecEnv


@dataclass(frozen=True, slots=True)
class DQNConfig:
    n_steps: int = 64  # per environment between updates ("iteration")
    buffer: int = 200_000
    batch: int = 256
    updates_per_iter: int = 32
    lr: float = 3e-4
    gamma: float = 0.995
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay_steps: int = 300_000  # environment steps over which epsilon decays
    target_sync: int = 500  # gradient updates between target-network copies
    learn_start: int = 5_000
    reward_scale: float = 0.1
    hidden: tuple[int, ...] = (64, 64)


class DQN:
    def __init__(self, n_in: int, n_actions: int, cfg: DQNConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.n_actions = n_actions
        self.q = PolicyNet(n_in, n_actions, cfg.hidden).to(device)
        self.target = PolicyNet(n_in, n_actions, cfg.hidden).to(device)
        self.target.load_state_dict(self.q.state_dict())
        self.opt = torch.optim.Adam(self.q.parameters(), lr=cfg.lr)
        self.obs = np.zeros((cfg.buffer, n_in), np.float32)
        self.nxt = np.zeros((cfg.buffer, n_in), np.float32)
        self.act_buf = np.zeros(cfg.buffer, np.int64)
        self.rew = np.zeros(cfg.buffer, np.float32)
        self.done = np.zeros(cfg.buffer, np.float32)
        self.size = 0
        self.pos = 0
        self.env_steps = 0
        self.updates = 0

    @property
    def policy_net(self) -> PolicyNet:
        return self.q

    def epsilon(self) -> float:
        return self._epsilon_at(self.env_steps)

    def _epsilon_at(self, env_steps: int) -> float:
        c = self.cfg
        f = min(1.0, env_steps / max(1, c.eps_decay_steps))
        return c.eps_start + f * (c.eps_end - c.eps_start)

    def collect(
        self, env: VecEnv, obs: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        n, t = env.num_envs, self.cfg.n_steps
        # every step's exploration draws up front, in the order a lockstep loop draws them
        explore = np.empty((t, n), bool)
        random_action = np.empty((t, n), np.int64)
        for k in range(t):
            explore[k] = rng.random(n) < self._epsilon_at(self.env_steps + k * n)
            random_action[k] = rng.integers(self.n_actions, size=n)

        cols = np.arange(n)

        def decide(step: np.ndarray, rows: np.ndarray, o: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                greedy = self.q(batch_tensor(o, self.device)).argmax(-1).cpu().numpy()
            chosen: np.ndarray = np.where(explore[step, cols], random_action[step, cols], greedy)
            return chosen

        ro = env.rollout(obs, t, decide)
        for k in range(t):
            # on a reset the returned observation starts the next episode; the
            # transition's own next state only matters through done=1 (no bootstrap)
            self._store(
                ro.obs[k], ro.act[k], ro.rew[k] * self.cfg.reward_scale, ro.obs[k + 1], ro.done[k]
            )
            self.env_steps += n
        return ro.obs[t], ro.episodes

    def _store(
        self, obs: np.ndarray, a: np.ndarray, r: np.ndarray, nxt: np.ndarray, d: np.ndarray
    ) -> None:
        for i in range(len(a)):
            p = self.pos
            self.obs[p], self.act_buf[p], self.rew[p], self.nxt[p], self.done[p] = (
                obs[i],
                a[i],
                r[i],
                nxt[i],
                d[i],
            )
            self.pos = (p + 1) % self.cfg.buffer
            self.size = min(self.size + 1, self.cfg.buffer)

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        c = self.cfg
        if self.size < c.learn_start:
            return {"td_loss": float("nan"), "epsilon": self.epsilon()}
        total = 0.0
        dev = self.device
        for _ in range(c.updates_per_iter):
            idx = rng.integers(self.size, size=c.batch)
            o = torch.as_tensor(self.obs[idx], device=dev)
            a = torch.as_tensor(self.act_buf[idx], device=dev)
            r = torch.as_tensor(self.rew[idx], device=dev)
            n = torch.as_tensor(self.nxt[idx], device=dev)
            d = torch.as_tensor(self.done[idx], device=dev)
            with torch.no_grad():
                best = self.q(n).argmax(-1, keepdim=True)
                target = r + c.gamma * (1 - d) * self.target(n).gather(-1, best).squeeze(-1)
            q = self.q(o).gather(-1, a.unsqueeze(-1)).squeeze(-1)
            loss = nn.functional.smooth_l1_loss(q, target)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(self.q.parameters(), 10.0)
            self.opt.step()
            total += float(loss)
            self.updates += 1
            if self.updates % c.target_sync == 0:
                self.target.load_state_dict(self.q.state_dict())
        return {"td_loss": total / c.updates_per_iter, "epsilon": self.epsilon()}

    def state(self) -> dict[str, torch.Tensor]:
        out = {f"q.{k}": v for k, v in self.q.state_dict().items()}
        out.update({f"target.{k}": v for k, v in self.target.state_dict().items()})
        return out

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.q.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("q.")})
        self.target.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("target.")})
