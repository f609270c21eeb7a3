"""A simulation that stays up between steps, for the dashboard (sims.dashboard.app).

`run_simulation` (sims.runner) starts a chain, steps the model to the end and stops the
chain in one call. The dashboard steps the model when its user presses a button, so

    DashboardModel(scenario="crash", seed=7, steps=168, governance=True, writers=6,
                    noise_traders=4, spot_shock=0.15, im_factor=1.3)

starts anvil through ape-foundry, deploys the protocol with those initial margin
parameters and returns an `OptionsMarketModel` whose chain stays up until `close()`,
until the next DashboardModel replaces it, or until the process exits. Its keyword
arguments are the dashboard's inputs: Mesa's SolaraViz builds a new model from them
when its user presses Reset.

One chain per process: ape's network context is process-wide, so a new model stops the
chain of the one before it, whose steps then raise `ChainClosed`.

Every chain action (start, deploy, steps, stop) runs on one long-lived thread. ape-foundry
starts anvil with a parent-death signal, and Linux ties that signal to the thread that
started the child, not to the process: anvil started from a short-lived web-server thread
would be killed when that thread ends. One thread also puts the steps of several browser
tabs in one order.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sims.config import SimConfig, SimConfigError
from sims.model import OptionsMarketModel
from sims.project import use_project_env
from sims.runner import NETWORKS, model_inputs, open_run, plan_run

log = logging.getLogger("optsim.dashboard")
T = TypeVar("T")

_chain_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="optsim-chain")
_current: DashboardModel | None = None  # the model whose chain is up


class ChainClosed(RuntimeError):
    """The model's chain was stopped (a newer model replaced it, or it was closed)."""


def on_chain_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run fn(*args) on the chain's thread and return its result (or raise its error)."""
    if threading.current_thread().name.startswith("optsim-chain"):
        return fn(*args)
    return _chain_thread.submit(fn, *args).result()


def current() -> DashboardModel | None:
    """The model whose chain is up, if any (a new browser tab shows it instead of
    starting another chain)."""
    return _current if _current is not None and _current.is_open else None


class DashboardModel(OptionsMarketModel):
    """The options market on its own anvil, stepped one block at a time by its caller.

    Args:
        scenario: a name in sims.scenarios.SCENARIOS or a YAML file.
        seed: the run's seed (the market path, the agents' keys and choices).
        steps: blocks in the run; `running` turns False after the last one.
        governance: whether the risk committee reviews parameters.
        writers, noise_traders: how many of each trader (the others: SimConfig's defaults).
        spot_shock, im_factor: the margin parameters deployed at the start, over
            deployments/local.yaml's (on-chain bounds checked before anything starts).

    Raises:
        SimConfigError: an invalid setting (nothing is started).
    """

    def __init__(
        self,
        scenario: str = "crash",
        seed: int = 7,
        steps: int = 168,
        governance: bool = True,
        writers: int = 6,
        noise_traders: int = 4,
        spot_shock: float = 0.15,
        im_factor: float = 1.3,
    ):
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise SimConfigError(f"seed = {seed!r}: expected an integer") from None
        cfg = SimConfig.from_dict(
            {
                "scenario": scenario,
                "steps": int(steps),
                "governance": bool(governance),
                "writers": int(writers),
                "noise_traders": int(noise_traders),
            }
        )
        params = {"margin": {"spot_shock": float(spot_shock), "im_factor": float(im_factor)}}
        self.inputs = {
            "scenario": scenario,
            "seed": seed,
            "steps": cfg.steps,
            "governance": cfg.governance,
            "writers": cfg.writers,
            "noise_traders": cfg.noise_traders,
            **params["margin"],
        }
        self._network: Any = None
        self._chain: Any = None
        on_chain_thread(self._open, cfg, seed, params)

    # --- the chain's lifecycle (on the chain's thread) ---

    def _open(self, cfg: SimConfig, seed: int, params: dict[str, dict[str, float]]) -> None:
        """Stop the previous model's chain, start anvil, deploy, open the market."""
        import ape

        global _current
        plan = plan_run(cfg, seed, "anvil", params)
        if _current is not None:
            _current._close()
        use_project_env()
        network = ape.networks.parse_network_choice(NETWORKS["anvil"], disconnect_after=True)
        with _no_signal_handlers():
            provider = network.__enter__()
        self._network = network
        try:
            run = open_run(plan, provider)
            self._chain = run.chain
            super().__init__(**model_inputs(plan, run))
        except BaseException:
            self._close()
            raise
        _current = self
        log.info("dashboard model: %s seed %s on %s", cfg.scenario, seed, provider.uri)

    def _close(self) -> None:
        """Put the node's mining mode back and stop anvil (idempotent, never raises)."""
        global _current
        if _current is self:
            _current = None
        chain, network = self._chain, self._network
        self._chain = self._network = None
        super().close()
        if chain is not None:
            try:
                chain.close()
            except Exception as exc:  # noqa: BLE001 - the node may be gone already
                log.debug("dashboard model: chain close: %s", exc)
        if network is not None:
            try:
                network.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001
                log.debug("dashboard model: network exit: %s", exc)

    # --- what the dashboard calls ---

    @property
    def is_open(self) -> bool:
        return self._network is not None

    def step(self) -> None:
        """One block, on the chain's thread; `running` turns False after the last one."""
        if not self.is_open:
            self.running = False
            raise ChainClosed("this run's chain was stopped (a newer run replaced it): Reset")
        if self.steps <= self.cfg.steps:
            on_chain_thread(super().step)
        self.running = self.steps < self.cfg.steps

    def close(self) -> None:
        """Stop this model's chain (nothing happens if a newer model already did)."""
        on_chain_thread(self._close)


@contextlib.contextmanager
def _no_signal_handlers() -> Iterator[None]:
    """ape's SubprocessProvider.connect installs SIGINT/SIGTERM handlers, which Python
    allows only on the main thread; off it, skip them (the web server keeps its own, and
    the chain is stopped at exit by `_close_at_exit` and by anvil's parent-death signal)."""
    import ape.api.providers as providers

    if threading.current_thread() is threading.main_thread():
        yield
        return
    original = providers.signal
    providers.signal = lambda *_args, **_kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        providers.signal = original


@atexit.register
def _close_at_exit() -> None:
    if _current is not None:
        _current._close()
