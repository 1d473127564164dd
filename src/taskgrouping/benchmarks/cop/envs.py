"""The combinatorial-optimisation problems as batched environments in torch.

A rollout builds ``P`` solutions of each of ``B`` instances at once, POMO's multiple starts
(Kwon et al. 2020): start ``p`` is forced to take node ``p`` first (TSP: start the tour at city
``p``; CVRP and OP: visit customer ``p`` first; KP: pack item ``p`` first), and every later action
comes from the policy. An environment knows, for its problem:

* the node coordinates and features the policy embeds (:meth:`Env.nodes`);
* the state after each action (:meth:`Env.reset`, :meth:`Env.step`), which actions are feasible
  (:meth:`Env.mask`) and the decoder's context (:meth:`Env.context`);
* the objective reached (:meth:`Env.objective`: tour length, route length, prize, value) and the
  solution as the stored rows of :mod:`~taskgrouping.cop.solutions`
  (:meth:`Env.solution_rows`), so a rollout can be checked by recomputing its objective in
  float64.

Node indices: TSP and KP index the cities and items ``0 .. n-1``; CVRP and OP put the depot at
``0`` and node ``i`` of the instance at ``i + 1``. A finished start (every customer served, an OP
tour back at the depot, no item left that fits) only ever "chooses" node 0, which changes nothing
and adds nothing to its log-likelihood. Feasibility tests keep a margin of :data:`MARGIN` below
the limits, so that a float32 rollout stays feasible when recomputed in float64.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

#: Slack kept below OP's length limit and KP's and CVRP's capacities in float32.
MARGIN = 1e-5
#: The eight symmetries of the unit square (POMO's ×8 augmentation): (swap x/y, flip x, flip y).
SYMMETRIES: tuple[tuple[bool, bool, bool], ...] = tuple(
    (swap, fx, fy) for swap in (False, True) for fx in (False, True) for fy in (False, True)
)

Instances = Mapping[str, torch.Tensor]


def gather_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[b, index[b, p]]`` for ``values`` (B, N, ...) and ``index`` (B, P): (B, P, ...)."""
    extra = values.shape[2:]
    idx = index.reshape(*index.shape, *([1] * len(extra))).expand(*index.shape, *extra)
    return values.gather(1, idx)


def transform(xy: torch.Tensor, symmetry: tuple[bool, bool, bool]) -> torch.Tensor:
    """Coordinates ``xy`` (..., 2) under one symmetry of the unit square."""
    swap, fx, fy = symmetry
    x, y = xy[..., 0], xy[..., 1]
    if swap:
        x, y = y, x
    if fx:
        x = 1 - x
    if fy:
        y = 1 - y
    return torch.stack([x, y], dim=-1)


@dataclass
class State:
    """Where every start of every instance stands; fields beyond the common ones per problem."""

    xy: torch.Tensor  # (B, N, 2) coordinates of the nodes, depot first where there is one
    current: torch.Tensor  # (B, P) last node chosen
    visited: torch.Tensor  # (B, P, N) bool
    done: torch.Tensor  # (B, P) bool
    total: torch.Tensor  # (B, P) length travelled (TSP, CVRP, OP) or value packed (KP)
    actions: list[torch.Tensor] = field(default_factory=list)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


class Env(ABC):
    """One problem type's rules (see the module docstring)."""

    #: The problem type (``tsp``, ``cvrp``, ``op``, ``kp``).
    problem: str
    #: Whether node 0 is a depot in front of the instance's nodes.
    depot: bool = False
    #: Whether the coordinates can be augmented by the square's symmetries.
    geometric: bool = True
    #: Features per node (after the coordinates) and of the depot, as embedded.
    node_features: int = 2
    #: Scalars the decoder's context holds besides its node embeddings.
    context_scalars: int = 1
    #: Node embeddings the decoder's context holds (first/current node, mean of all).
    context_nodes: int = 1

    @abstractmethod
    def nodes(self, inst: Instances) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``(depot features (B, 2) or None, node features (B, n, node_features))``."""

    def size(self, inst: Instances) -> int:
        """Nodes (items) per instance, depot excluded."""
        return int(inst["weights" if self.problem == "kp" else "locs"].shape[1])

    def coordinates(self, inst: Instances) -> torch.Tensor:
        """(B, N, 2) coordinates, depot first where there is one."""
        if self.depot:
            return torch.cat([inst["depot"][:, None], inst["locs"]], dim=1)
        return inst["locs"]

    def augment(self, inst: Instances, symmetry: tuple[bool, bool, bool]) -> dict:
        """``inst`` with every coordinate under ``symmetry`` (distances are unchanged)."""
        out = dict(inst)
        for key in ("locs", "depot"):
            if key in out:
                out[key] = transform(out[key], symmetry)
        return out

    def reset(self, inst: Instances, starts: int) -> State:
        """The state before the first action of ``starts`` starts per instance."""
        xy = self.coordinates(inst)
        b, n_all = xy.shape[0], xy.shape[1]
        zeros = torch.zeros(b, starts, device=xy.device)
        return State(
            xy=xy,
            current=torch.zeros(b, starts, dtype=torch.long, device=xy.device),
            visited=torch.zeros(b, starts, n_all, dtype=torch.bool, device=xy.device),
            done=torch.zeros(b, starts, dtype=torch.bool, device=xy.device),
            total=zeros,
        )

    def first_actions(self, state: State, inst: Instances) -> torch.Tensor:
        """The forced first action of every start: node ``p`` (+1 behind a depot)."""
        b, p = state.done.shape
        first = torch.arange(p, device=state.xy.device) + (1 if self.depot else 0)
        return first.expand(b, p)

    @abstractmethod
    def mask(self, state: State, inst: Instances) -> torch.Tensor:
        """(B, P, N) bool: True where an action is not allowed (a finished start: all but 0)."""

    @abstractmethod
    def step(self, state: State, inst: Instances, action: torch.Tensor) -> None:
        """Apply ``action`` (B, P) to the starts not yet finished."""

    @abstractmethod
    def context(self, state: State, inst: Instances, emb: torch.Tensor) -> torch.Tensor:
        """(B, P, context_nodes * d + context_scalars): the decoder's input."""

    @abstractmethod
    def objective(self, state: State, inst: Instances) -> torch.Tensor:
        """(B, P) objective of each finished start, in the problem's own sense."""

    def reward(self, state: State, inst: Instances) -> torch.Tensor:
        """(B, P) reward to maximise: the objective, negated for minimisation problems."""
        obj = self.objective(state, inst)
        return obj if self.problem in ("op", "kp") else -obj

    @abstractmethod
    def solution_rows(self, actions: np.ndarray, size: int) -> np.ndarray:
        """Stored solution rows ``(..., width)`` of the action sequences ``actions`` (..., T)."""

    def finish_mask(self, mask: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """``mask`` with finished starts allowed node 0 only."""
        finished = torch.ones_like(mask[0, 0])
        finished[0] = False
        return torch.where(done[..., None], finished, mask)

    def _move(self, state: State, action: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
        """Travel from the current node to ``action`` where ``live``; returns the distance."""
        here, there = gather_rows(state.xy, state.current), gather_rows(state.xy, action)
        dist = torch.where(live, (there - here).norm(dim=-1), torch.zeros_like(state.total))
        state.current = torch.where(live, action, state.current)
        return dist


def _mark(visited: torch.Tensor, action: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    hit = torch.nn.functional.one_hot(action, visited.shape[-1]).bool()
    return visited | (hit & live[..., None])


def _pad_rows(rows: list[list[int]], width: int) -> np.ndarray:
    out = np.full((len(rows), width), -1, dtype=np.int64)
    for k, row in enumerate(rows):
        out[k, : len(row)] = row
    return out


class TSPEnv(Env):
    """Travelling salesman: the closed tour's length, minimised."""

    problem = "tsp"
    context_nodes = 2  # the first and the current city
    context_scalars = 0

    def nodes(self, inst: Instances) -> tuple[None, torch.Tensor]:
        return None, inst["locs"]

    def mask(self, state: State, inst: Instances) -> torch.Tensor:
        return self.finish_mask(state.visited, state.done)

    def step(self, state: State, inst: Instances, action: torch.Tensor) -> None:
        live = ~state.done
        if not state.actions:
            state.extra["first"] = action
            state.current = action
        else:
            state.total = state.total + self._move(state, action, live)
        state.visited = _mark(state.visited, action, live)
        state.actions.append(action)
        state.done = state.visited.all(dim=-1)

    def context(self, state: State, inst: Instances, emb: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [gather_rows(emb, state.extra["first"]), gather_rows(emb, state.current)], dim=-1
        )

    def objective(self, state: State, inst: Instances) -> torch.Tensor:
        back = gather_rows(state.xy, state.extra["first"]) - gather_rows(state.xy, state.current)
        return state.total + back.norm(dim=-1)

    def solution_rows(self, actions: np.ndarray, size: int) -> np.ndarray:
        return np.asarray(actions)[..., :size].astype(np.int64)


class CVRPEnv(Env):
    """Capacitated vehicle routing: the routes' total length, minimised."""

    problem = "cvrp"
    depot = True
    node_features = 3  # x, y, demand / capacity

    def nodes(self, inst: Instances) -> tuple[torch.Tensor, torch.Tensor]:
        share = inst["demand"] / inst["capacity"][:, None]
        return inst["depot"], torch.cat([inst["locs"], share[..., None]], dim=-1)

    def _share(self, inst: Instances) -> torch.Tensor:
        share = inst["demand"].float() / inst["capacity"].float()[:, None]
        return torch.cat([torch.zeros_like(share[:, :1]), share], dim=1)  # (B, N)

    def reset(self, inst: Instances, starts: int) -> State:
        state = super().reset(inst, starts)
        state.extra["load"] = torch.ones_like(state.total)
        state.extra["share"] = self._share(inst)
        return state

    def mask(self, state: State, inst: Instances) -> torch.Tensor:
        share = state.extra["share"][:, None, :]
        mask = state.visited | (share > state.extra["load"][..., None] + MARGIN)
        at_depot = state.current == 0
        mask[..., 0] = at_depot
        return self.finish_mask(mask, state.done)

    def step(self, state: State, inst: Instances, action: torch.Tensor) -> None:
        live = ~state.done
        state.total = state.total + self._move(state, action, live)
        used = gather_rows(state.extra["share"], action)
        load = torch.where(action == 0, torch.ones_like(used), state.extra["load"] - used)
        state.extra["load"] = torch.where(live, load, state.extra["load"])
        state.visited = _mark(state.visited, action, live & (action != 0))
        state.actions.append(action)
        state.done = state.visited[..., 1:].all(dim=-1)

    def context(self, state: State, inst: Instances, emb: torch.Tensor) -> torch.Tensor:
        return torch.cat([gather_rows(emb, state.current), state.extra["load"][..., None]], dim=-1)

    def objective(self, state: State, inst: Instances) -> torch.Tensor:
        home = state.xy[:, :1].expand(-1, state.current.shape[1], -1)
        return state.total + (gather_rows(state.xy, state.current) - home).norm(dim=-1)

    def solution_rows(self, actions: np.ndarray, size: int) -> np.ndarray:
        flat = np.asarray(actions).reshape(-1, np.shape(actions)[-1])
        rows = []
        for seq in flat:
            row = [0]
            served = 0
            for a in seq.tolist():
                if served == size:
                    break
                if a == 0 and row[-1] == 0:
                    continue
                row.append(a)
                served += a != 0
            if row[-1] != 0:
                row.append(0)
            rows.append(row)
        return _pad_rows(rows, 2 * size + 1).reshape(*np.shape(actions)[:-1], 2 * size + 1)


class OPEnv(Env):
    """Orienteering: the prize of the nodes on a tour from and back to the depot within a
    length limit, maximised."""

    problem = "op"
    depot = True
    node_features = 3  # x, y, prize

    def nodes(self, inst: Instances) -> tuple[torch.Tensor, torch.Tensor]:
        return inst["depot"], torch.cat([inst["locs"], inst["prize"][..., None]], dim=-1)

    def reset(self, inst: Instances, starts: int) -> State:
        state = super().reset(inst, starts)
        xy = state.xy
        state.extra["home"] = (xy - xy[:, :1]).norm(dim=-1)  # (B, N) distance to the depot
        state.extra["prize"] = torch.cat(
            [torch.zeros_like(inst["prize"][:, :1]), inst["prize"]], dim=1
        )
        return state

    def _room(self, inst: Instances) -> torch.Tensor:
        return inst["max_length"][:, None] - MARGIN

    def first_actions(self, state: State, inst: Instances) -> torch.Tensor:
        first = super().first_actions(state, inst)
        fits = 2 * gather_rows(state.extra["home"], first) <= self._room(inst)
        return torch.where(fits, first, torch.zeros_like(first))

    def mask(self, state: State, inst: Instances) -> torch.Tensor:
        here = gather_rows(state.xy, state.current)  # (B, P, 2)
        reach = (state.xy[:, None, :, :] - here[:, :, None, :]).norm(dim=-1)  # (B, P, N)
        need = state.total[..., None] + reach + state.extra["home"][:, None, :]
        mask = state.visited | (need > self._room(inst)[..., None])
        mask[..., 0] = False
        return self.finish_mask(mask, state.done)

    def step(self, state: State, inst: Instances, action: torch.Tensor) -> None:
        live = ~state.done
        state.total = state.total + self._move(state, action, live)
        state.visited = _mark(state.visited, action, live & (action != 0))
        state.actions.append(action)
        state.done = state.done | (action == 0)

    def context(self, state: State, inst: Instances, emb: torch.Tensor) -> torch.Tensor:
        left = inst["max_length"][:, None] - state.total
        return torch.cat([gather_rows(emb, state.current), left[..., None]], dim=-1)

    def objective(self, state: State, inst: Instances) -> torch.Tensor:
        return (state.visited.float() * state.extra["prize"][:, None, :]).sum(dim=-1)

    def solution_rows(self, actions: np.ndarray, size: int) -> np.ndarray:
        flat = np.asarray(actions).reshape(-1, np.shape(actions)[-1])
        rows = []
        for seq in flat:
            row = []
            for a in seq.tolist():
                if a == 0:
                    break
                row.append(a)
            rows.append(row)
        return _pad_rows(rows, size).reshape(*np.shape(actions)[:-1], size)


class KPEnv(Env):
    """0-1 knapsack: the value of the items packed within the capacity, maximised."""

    problem = "kp"
    geometric = False
    node_features = 2  # weight, value

    def nodes(self, inst: Instances) -> tuple[None, torch.Tensor]:
        return None, torch.stack([inst["weights"], inst["values"]], dim=-1)

    def coordinates(self, inst: Instances) -> torch.Tensor:
        return torch.stack([inst["weights"], inst["values"]], dim=-1)

    def augment(self, inst: Instances, symmetry: tuple[bool, bool, bool]) -> dict:
        raise ValueError("KP has no coordinates to augment")

    def reset(self, inst: Instances, starts: int) -> State:
        state = super().reset(inst, starts)
        state.extra["left"] = inst["capacity"][:, None].expand_as(state.total).clone()
        return state

    def _unfit(self, state: State, inst: Instances) -> torch.Tensor:
        weights = inst["weights"][:, None, :]
        return state.visited | (weights > state.extra["left"][..., None] - MARGIN)

    def mask(self, state: State, inst: Instances) -> torch.Tensor:
        return self.finish_mask(self._unfit(state, inst), state.done)

    def step(self, state: State, inst: Instances, action: torch.Tensor) -> None:
        weight = gather_rows(inst["weights"], action)
        # A forced first item that does not fit is left out: that start packs from empty.
        live = ~state.done & (weight <= state.extra["left"] - MARGIN)
        value = gather_rows(inst["values"], action)
        state.extra["left"] = torch.where(live, state.extra["left"] - weight, state.extra["left"])
        state.total = torch.where(live, state.total + value, state.total)
        state.visited = _mark(state.visited, action, live)
        state.actions.append(torch.where(live, action, torch.full_like(action, -1)))
        state.done = self._unfit(state, inst).all(dim=-1)

    def context(self, state: State, inst: Instances, emb: torch.Tensor) -> torch.Tensor:
        graph = emb.mean(dim=1, keepdim=True).expand(-1, state.current.shape[1], -1)
        return torch.cat([graph, state.extra["left"][..., None]], dim=-1)

    def objective(self, state: State, inst: Instances) -> torch.Tensor:
        return state.total

    def solution_rows(self, actions: np.ndarray, size: int) -> np.ndarray:
        actions = np.asarray(actions)
        rows = np.zeros((*actions.shape[:-1], size), dtype=np.int64)
        packed = actions >= 0
        lead = np.indices(actions.shape)[:-1]
        idx = (*(i[packed] for i in lead), actions[packed])
        rows[idx] = 1
        return rows


ENVS: dict[str, Env] = {env.problem: env for env in (TSPEnv(), CVRPEnv(), OPEnv(), KPEnv())}
