"""Optuna NSGA-II and TPE as search strategies: a real `optuna.Study` in an RDB (SQLite by
default) that resumes when opened again under the same name."""

from __future__ import annotations

import abc
import logging
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.strategies._base import SearchStrategy
from nas.strategies._registry import register_strategy
from supernet import ArchConfig, ArtifactMismatchError, precision_parts
from supernet.core import check, differences
from supernet.space import choice_token

__all__ = ["OptunaSearch", "OptunaNSGA2", "OptunaTPE", "suggest_arch"]

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)


def suggest_arch(trial: Any, space) -> ArchConfig:
    """One categorical parameter per choice: resolution, depth per stage (``d0``, ...), each
    block choice per slot (named by its token: ``k0_1`` is the kernel of slot 1 of stage 0;
    slots past a stage's depth are sampled and cut by `make_arch`), each network-level
    choice per position (``w_2``), and a precision per part (``p_stem``, ``p_stage1``, ...)
    when the space draws more than one."""
    n, m = space.num_stages, space.max_depth
    res = trial.suggest_categorical("resolution", list(space.resolutions))
    depths = [trial.suggest_categorical(f"d{s}", list(space.stage_depths(s))) for s in range(n)]
    slots = {key: [[trial.suggest_categorical(f"{choice_token(key)}{s}_{j}", list(values)) for j in range(m)]
                   for s in range(n)]
             for key, values in space.block_choices.items()}
    net = {key: [trial.suggest_categorical(f"{choice_token(key)}_{i}", list(allowed))
                 for i, allowed in enumerate(positions)]
           for key, positions in space.net_choices.items()}
    policy = space.precisions * (n + 2)
    if len(space.precisions) > 1:
        policy = [trial.suggest_categorical(f"p_{part}", list(space.precisions))
                  for part in precision_parts(n)]
    return space.make_arch(res, depths, slots, net=net).with_precision(tuple(policy))


#: Optuna >= 5 takes constraints per trial (``Trial.set_constraint``) and deprecates the
#: samplers' ``constraints_func``; older versions need the latter.
_PER_TRIAL_CONSTRAINTS = hasattr(optuna.trial.Trial, "set_constraint")


def _violation(trial: FrozenTrial) -> list[float]:
    """``constraints_func`` of the samplers (Optuna < 5): <= 0 means feasible."""
    return [float(trial.user_attrs.get("violation", 0.0))]


def open_storage(url: str | None):
    """Optuna storage for ``url`` (None: in memory). SQLite runs in WAL mode with
    ``synchronous=NORMAL``: a killed process loses nothing committed, and a trial costs a
    few milliseconds instead of an fsync per parameter."""
    if url is None:
        return optuna.storages.InMemoryStorage()
    from sqlalchemy.exc import SQLAlchemyError

    try:
        storage = optuna.storages.get_storage(url)
    except SQLAlchemyError as err:  # e.g. a sqlite URL at a text file: "file is not a database"
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        raise ArtifactMismatchError(f"--storage {url}: not an Optuna database ({reason[:200]}); give a new "
                                    "file or one an earlier search made") from None
    engine = getattr(getattr(storage, "_backend", storage), "engine", None)
    if engine is not None and url.startswith("sqlite"):
        from sqlalchemy import event

        def pragmas(conn, _record) -> None:
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        event.listen(engine, "connect", pragmas)
        engine.dispose()  # reconnect with the pragmas
    return storage


def constraints_func(constrained: bool):
    return _violation if constrained and not _PER_TRIAL_CONSTRAINTS else None


class OptunaSearch(SearchStrategy):
    """Base of the Optuna strategies. ``storage`` is an RDB URL (``sqlite:///search.db``) or
    None for memory; with a ``study_name`` that already exists there, the study is resumed:
    its completed trials count towards the budget and trials a killed run left RUNNING are
    marked FAIL. One process should drive a study at a time."""

    name = "optuna"

    def __init__(self, *, storage: str | None = None, study_name: str | None = None,
                 batch_size: int = 1, fresh: bool = False) -> None:
        own = type(self).__name__
        check(storage is None or (isinstance(storage, str) and "://" in storage), f"{own}.storage", storage,
              "None (in memory) or an RDB URL such as 'sqlite:///search.db'")
        check(study_name is None or (isinstance(study_name, str) and study_name.strip() != ""),
              f"{own}.study_name", study_name, "None or a non-empty string")
        check(isinstance(batch_size, int) and batch_size > 0, f"{own}.batch_size", batch_size,
              "a positive int")
        self.storage, self.study_name, self.batch_size = storage, study_name, batch_size
        self.fresh, self._seed = bool(fresh), None

    def run(self, problem, *, budget: int, seed=None, **kwargs):
        """As `SearchStrategy.run`; the seed joins the study's fingerprint."""
        self._seed = int(seed) if isinstance(seed, (int, np.integer)) else (
            None if seed is None else "a numpy Generator")
        return super().run(problem, budget=budget, seed=seed, **kwargs)

    @abc.abstractmethod
    def make_sampler(self, seed: int, constrained: bool) -> optuna.samplers.BaseSampler:
        """The Optuna sampler, built once per run by ``setup``."""

    def setup(self, problem, evaluator, rng) -> None:
        super().setup(problem, evaluator, rng)
        base = int(rng.integers(2**31 - 1))
        self._storage = open_storage(self.storage)
        if self.fresh and self.study_name is not None:
            try:  # start over: the old trials are dropped, not mixed in
                optuna.delete_study(study_name=self.study_name, storage=self._storage)
                log.info("study %s: deleted, starting over (fresh)", self.study_name)
            except KeyError:
                pass
        self.study = optuna.create_study(
            storage=self._storage, study_name=self.study_name,
            sampler=optuna.samplers.RandomSampler(),  # replaced below, once the trials are known
            load_if_exists=True,
            directions=["maximize" if o.maximize else "minimize" for o in problem.objectives])
        self._check_study(problem)
        # a restarted driver, or another one joining the study, must not replay the draws of
        # the trials already there: its sampler's seed moves on with their number
        known = len(self.study.get_trials(deepcopy=False))
        self.study.sampler = self.make_sampler((base + 7919 * known) % (2**31 - 1), bool(problem.constraints))
        self._pending: list[tuple[optuna.trial.Trial, ArchConfig]] = []
        self._resume()

    def _check_study(self, problem) -> None:
        """A study resumes only with what defines its values unchanged: the space, every
        objective and constraint with its bounds and source (predictor, table) fingerprint,
        the strategy and the seed. Else the old trials' values would be mixed in."""
        want = {"problem": problem.fingerprint(), "strategy": self.name, "seed": self._seed}
        have = self.study.user_attrs.get("nas_fingerprint")
        if have is None and self.study.get_trials(deepcopy=False):
            have = {"made by": "an older version (no fingerprint)"}
        if have is None:
            self.study.set_user_attr("nas_fingerprint", want)
        elif have != want:
            diff = differences(have, want)
            raise ArtifactMismatchError(
                f"Optuna study {self.study.study_name!r} in {self.storage} was made with other inputs "
                f"(differs in {', '.join(diff[:6])}); its trials' values would be mixed into this "
                "search. Give another --study-name, the same inputs, or --force to start it over")

    def _resume(self) -> None:
        storage, done, values = self._storage, [], []
        for t in self.study.get_trials(deepcopy=False):
            if t.state == TrialState.RUNNING:
                log.warning("study %s: trial %d was left running by a stopped run; marking it FAIL",
                            self.study.study_name, t.number)
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            elif t.state == TrialState.COMPLETE and "arch" in t.user_attrs:
                done.append(ArchConfig.from_json(t.user_attrs["arch"]))
                values.append(t.values)
        if done:
            log.info("study %s: resuming with %d completed trials", self.study.study_name, len(done))
            self.evaluator.seed(done, np.array(values, dtype=np.float64))

    def ask(self, n: int) -> list[ArchConfig]:
        self._pending = []
        for _ in range(min(n, self.batch_size)):
            trial = self.study.ask()
            arch = suggest_arch(trial, self.problem.space)
            trial.set_user_attr("arch", arch.to_json())
            self._pending.append((trial, arch))
        return [a for _, a in self._pending]

    def tell(self, archs, values, violation) -> None:
        natural = values * self.problem.signs
        for (trial, _), row, v in zip(self._pending, natural, violation):
            if not np.isfinite(row).all() or not np.isfinite(v):
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            trial.set_user_attr("violation", float(v))
            if self.problem.constraints and _PER_TRIAL_CONSTRAINTS:
                trial.set_constraint("violation", float(v))
            self.study.tell(trial, row.tolist())
        self._pending = []


@register_strategy
class OptunaNSGA2(OptunaSearch):
    """`optuna.samplers.NSGAIISampler` (generations of ``population_size`` trials)."""

    name = "optuna-nsga2"

    def __init__(self, *, population_size: int = 50, batch_size: int | None = None, **kw) -> None:
        check(isinstance(population_size, int) and population_size >= 2, "OptunaNSGA2.population_size",
              population_size, "an int >= 2")
        super().__init__(batch_size=batch_size or population_size, **kw)
        self.population_size = population_size

    def make_sampler(self, seed, constrained):
        return optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=seed,
                                             constraints_func=constraints_func(constrained))


@register_strategy
class OptunaTPE(OptunaSearch):
    """`optuna.samplers.TPESampler` (multivariate), one trial per ask by default."""

    name = "optuna-tpe"

    def __init__(self, *, n_startup_trials: int = 20, **kw) -> None:
        check(isinstance(n_startup_trials, int) and n_startup_trials >= 1, "OptunaTPE.n_startup_trials",
              n_startup_trials, "a positive int")
        super().__init__(**kw)
        self.n_startup_trials = n_startup_trials

    def make_sampler(self, seed, constrained):
        return optuna.samplers.TPESampler(n_startup_trials=self.n_startup_trials, seed=seed,
                                          multivariate=True, constraints_func=constraints_func(constrained))
