"""The interface of a grouping method, and what a selection job hands it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

if TYPE_CHECKING:
    import pandas as pd


#: What a method groups by: nothing (a fixed or random grouping), a gain matrix, the validation
#: metrics of every trained subset network, those of every single-task and pair network, or the
#: benchmark's planted partition (``data/truth.json``, synthetic benchmarks).
Needs = Literal["nothing", "gains", "subset_metrics", "pair_metrics", "truth"]
NEEDS: tuple[str, ...] = get_args(Needs)


@dataclass(frozen=True)
class SelectionInputs:
    """Everything a method's :meth:`Method.select` may use for one budget of one benchmark.

    Attributes
    ----------
    tasks
        Task names in benchmark order; groups are written with these names.
    budget
        The budget (largest number of networks) of this selection.
    grouping
        The config's ``grouping`` block (``mode``, ``aggregate``, ``max_group_size``,
        ``time_limit_s``, ``solver``).
    random
        The config's ``random`` block (``seed``, ``draws``).
    gains_csv
        The gain matrix of a method that needs ``"gains"``.
    metrics_jsons
        The ``metrics.json`` of every trained subset network, for ``"subset_metrics"``; of every
        single-task and pair network, for ``"pair_metrics"``.
    truth_json
        The benchmark's planted partition ``{"groups": [[task, ...], ...]}``, for ``"truth"``.
    """

    tasks: list[str]
    budget: int
    grouping: Mapping[str, Any]
    random: Mapping[str, Any]
    gains_csv: Path | str | None = None
    metrics_jsons: Sequence[Path | str] = field(default_factory=tuple)
    truth_json: Path | str | None = None

    def gains(self) -> pd.DataFrame:
        """The gain matrix, checked to list :attr:`tasks` as rows and columns in order."""
        from taskgrouping.io import read_gain_matrix

        if self.gains_csv is None:
            raise ValueError("this method needs a gain matrix (gains_csv), but none was given")
        return read_gain_matrix(self.gains_csv, self.tasks)


class Method(ABC):
    """A grouping method of the workflow: a name, what it needs, its budgets and its choice.

    Subclass it, set the class attributes, implement :meth:`select`, and register the class
    with :func:`~taskgrouping.methods.register` (or name it in the config's ``plugins`` as
    ``"module:Class"``); the config schema, the workflow's wildcards and inputs, and the
    figures then know the method.

    Attributes
    ----------
    name
        The method's name in the config's ``methods`` and in output paths: letters, digits and
        ``_``, starting with a letter.
    needs
        ``"nothing"``, ``"gains"`` (a gain matrix ``results/<bench>/gains/<estimator>.csv``) or
        ``"subset_metrics"`` (every subset network trained at the first training seed) or
        ``"pair_metrics"`` (every single-task and pair network trained at the first training
        seed) or ``"truth"`` (the benchmark's planted partition).
    estimator
        For ``needs = "gains"``: the estimator whose gains it uses; None: the config's
        ``probe.estimator``.
    order
        Rank in figures and tables (built-ins 0 to 5); None: after every ranked method,
        alphabetically.
    color, marker
        Matplotlib colour and marker of its budget curve; colour None: one of the spare colours.
    reference
        Drawn as a horizontal reference line (a fixed grouping with a single budget).
    update
        The update rule (:func:`taskgrouping.training.registered_updates`) its networks train
        with, recorded in its selections; None: the benchmark's ``train.update``, like every
        network of the other methods. The rules' own methods (:mod:`~taskgrouping.methods.rules`)
        set it.
    """

    name: ClassVar[str]
    needs: ClassVar[Needs] = "nothing"
    estimator: ClassVar[str | None] = None
    order: ClassVar[int | None] = None
    color: ClassVar[str | None] = None
    marker: ClassVar[str] = "o"
    reference: ClassVar[bool] = False
    update: ClassVar[str | None] = None

    def budgets(self, n_tasks: int, configured: Sequence[int]) -> list[int]:
        """Budgets at which the method is evaluated: by default the benchmark's ``configured``."""
        return list(configured)

    @abstractmethod
    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """Choose the groups at ``inputs.budget``.

        Returns
        -------
        dict
            Fields of the selection's JSON beside ``method`` and ``budget``: at least ``groups``
            (lists of task names); optionally ``draws`` (several groupings, ``groups`` the
            first), ``objective``, ``solver_status`` and the solver's report.
        """
