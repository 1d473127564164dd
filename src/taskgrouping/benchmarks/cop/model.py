"""The POMO-style neural solver: one shared transformer encoder, an input embedding and a decoder
per problem type.

As in POMO (Kwon et al. 2020) and the paper's ``cop`` code, every problem type has its own small
input embedding (node features to ``d``; a separate one for a depot) and its own decoder; the
encoder between them, PyTorch's :class:`torch.nn.TransformerEncoder`, is shared by every task of
the network, so tasks of different problems transfer (or interfere) through it, and tasks of the
same problem at different sizes share their embedding and decoder too.

The decoder is POMO's: a query from the context of each start (the embeddings of the first and
current node for TSP; the current node and the load left for CVRP; the current node and the length
left for OP; the mean embedding and the capacity left for KP) attends over the node embeddings
(multi-head, infeasible nodes masked), and a single-head compatibility with the node embeddings,
clipped by ``clip * tanh``, gives the logits of the next node.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from taskgrouping.benchmarks.cop.envs import ENVS, SYMMETRIES, Env, Instances, State


def sample(log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One node per start drawn from ``log_probs`` (..., N) by inverse-CDF sampling with one
    uniform draw from the global RNG per start (5 times cheaper than :func:`torch.multinomial`
    here): the first node whose cumulative probability exceeds the draw, so never a node of zero
    probability; a draw rounded onto the total falls back to the most likely node, so never a
    ``mask``-ed one."""
    cdf = log_probs.detach().exp().cumsum(dim=-1)
    u = torch.rand(cdf.shape[:-1], device=cdf.device)[..., None] * cdf[..., -1:]
    action = (cdf <= u).sum(dim=-1).clamp_max(cdf.shape[-1] - 1)
    masked = mask.gather(-1, action[..., None]).squeeze(-1)
    return torch.where(masked, log_probs.argmax(dim=-1), action)


class Decoder(nn.Module):
    """POMO's decoder for one problem type: multi-head attention of the context over the nodes,
    then clipped single-head logits."""

    def __init__(self, env: Env, d: int, heads: int, clip: float) -> None:
        super().__init__()
        self.env, self.heads, self.clip = env, heads, clip
        self.query = nn.Linear(env.context_nodes * d + env.context_scalars, d, bias=False)
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d, bias=False)
        self.out = nn.Linear(d, d)

    def cache(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the nodes, (B, heads, N, d / heads), computed once per rollout."""
        b, n, d = emb.shape
        split = (b, n, self.heads, d // self.heads)
        return (
            self.key(emb).view(split).transpose(1, 2),
            self.value(emb).view(split).transpose(1, 2),
        )

    def forward(
        self,
        context: torch.Tensor,
        emb: torch.Tensor,
        keys: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Log-probabilities (B, P, N) of the next node; masked nodes get ``-inf``."""
        b, p, _ = context.shape
        d = emb.shape[-1]
        q = self.query(context).view(b, p, self.heads, d // self.heads).transpose(1, 2)
        glimpse = F.scaled_dot_product_attention(q, *keys, attn_mask=~mask[:, None])
        glimpse = self.out(glimpse.transpose(1, 2).reshape(b, p, d))
        logits = glimpse @ emb.transpose(1, 2) / math.sqrt(d)
        logits = self.clip * torch.tanh(logits)
        return torch.log_softmax(logits.masked_fill(mask, float("-inf")), dim=-1)


class Embedding(nn.Module):
    """One problem type's input embedding: node features (and the depot) to ``d``."""

    def __init__(self, env: Env, d: int) -> None:
        super().__init__()
        self.env = env
        self.node = nn.Linear(env.node_features, d)
        self.depot = nn.Linear(2, d) if env.depot else None

    def forward(self, inst: Instances) -> torch.Tensor:
        depot, nodes = self.env.nodes(inst)
        h = self.node(nodes)
        if self.depot is not None:
            h = torch.cat([self.depot(depot)[:, None], h], dim=1)
        return h


class POMOModel(nn.Module):
    """A network for the tasks of some problem types: shared ``encoder``, per-problem ``embed``
    and ``decode``.

    Parameters
    ----------
    problems
        Problem types the network solves (``tsp``, ``cvrp``, ``op``, ``kp``).
    d
        Embedding width.
    layers, heads, ff
        The encoder's layers, attention heads and feed-forward width.
    clip
        Logit clipping ``C`` of ``C * tanh``.
    """

    def __init__(
        self,
        problems: Sequence[str],
        *,
        d: int = 128,
        layers: int = 6,
        heads: int = 8,
        ff: int = 512,
        clip: float = 10.0,
    ) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"the embedding width d={d} must be a multiple of heads={heads}")
        unknown = [p for p in problems if p not in ENVS]
        if unknown:
            raise ValueError(f"unknown problem type(s) {unknown}; accepted: {sorted(ENVS)}")
        problems = sorted(set(problems), key=list(ENVS).index)
        self.embed = nn.ModuleDict({p: Embedding(ENVS[p], d) for p in problems})
        layer = nn.TransformerEncoderLayer(
            d, heads, ff, dropout=0.0, batch_first=True, norm_first=False
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.decode = nn.ModuleDict({p: Decoder(ENVS[p], d, heads, clip) for p in problems})

    def encode(self, problem: str, inst: Instances) -> torch.Tensor:
        """Node embeddings (B, N, d) of instances of ``problem``."""
        return self.encoder(self.embed[problem](inst))

    def rollout(
        self, problem: str, inst: Instances, *, greedy: bool, starts: int | None = None
    ) -> tuple[State, torch.Tensor]:
        """Build ``starts`` (default: one per node) solutions of every instance.

        Returns the final state (objective and actions) and the (B, P) sum of the log-likelihoods
        of each start's chosen actions (the forced first one excluded). Sampling draws from the
        global RNG; ``greedy`` takes the most likely node.
        """
        env = ENVS[problem]
        emb = self.encode(problem, inst)
        decoder = self.decode[problem]
        keys = decoder.cache(emb)
        n = env.size(inst)
        state = env.reset(inst, n if starts is None else starts)
        env.step(state, inst, env.first_actions(state, inst))
        logp = torch.zeros_like(state.total)
        while not bool(state.done.all()):
            mask = env.mask(state, inst)
            log_probs = decoder(env.context(state, inst, emb), emb, keys, mask)
            action = log_probs.argmax(dim=-1) if greedy else sample(log_probs, mask)
            chosen = log_probs.gather(-1, action[..., None]).squeeze(-1)
            logp = logp + torch.where(state.done, torch.zeros_like(chosen), chosen)
            env.step(state, inst, action)
        return state, logp

    def reinforce_loss(self, problem: str, inst: Instances) -> torch.Tensor:
        """POMO's REINFORCE loss with the shared baseline: the mean over starts of each start's
        reward is its baseline; ``-mean((R - baseline) * log p)``."""
        env = ENVS[problem]
        state, logp = self.rollout(problem, inst, greedy=False)
        reward = env.reward(state, inst)
        advantage = reward - reward.mean(dim=1, keepdim=True)
        return -(advantage.detach() * logp).mean()

    @torch.no_grad()
    def solve(
        self, problem: str, inst: Instances, *, augment: bool = True, rows: bool = True
    ) -> tuple[torch.Tensor, np.ndarray | None]:
        """Greedy multi-start decoding, with the ×8 symmetries of the unit square when
        ``augment`` (not for KP): the best objective (B,) of each instance over every start and
        symmetry, and (with ``rows``) the stored solution rows (B, width) that reach it."""
        env = ENVS[problem]
        versions = [inst]
        if augment and env.geometric:
            versions = [env.augment(inst, s) for s in SYMMETRIES]
        b = next(iter(inst.values())).shape[0]
        stacked = {k: torch.cat([v[k] for v in versions]) for k in inst}
        state, _ = self.rollout(problem, stacked, greedy=True)
        reward = env.reward(state, stacked).view(len(versions), b, -1)
        reward = reward.permute(1, 0, 2).reshape(b, -1)  # (B, versions * P)
        best = reward.argmax(dim=1)
        objective = env.objective(state, stacked).view(len(versions), b, -1)
        objective = objective.permute(1, 0, 2).reshape(b, -1)
        value = objective.gather(1, best[:, None]).squeeze(1)
        if not rows:
            return value, None
        actions = torch.stack(state.actions, dim=-1)  # (versions * B, P, T)
        actions = actions.view(len(versions), b, *actions.shape[1:]).permute(1, 0, 2, 3)
        actions = actions.reshape(b, -1, actions.shape[-1])
        chosen = actions[torch.arange(b, device=best.device), best].cpu().numpy()
        return value, env.solution_rows(chosen, env.size(inst))
