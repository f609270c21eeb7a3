"""A keeper's memory between runs: its event index and the actions it has taken.

Persisted as one JSON file, rewritten atomically (a temporary file, fsync, rename), so a
crash leaves either the old or the new state, never half of one. It holds

- where the event scan stopped (`last_block` and its hash) and where it began;
- the accounts seen in events, each with the last block an event touched it (its
  "version": what a decision about the account was based on), and the series;
- the actions: key -> record. A key names the thing acted on and the facts the decision
  used (``liquidate:<account>:<version>:<oracle round>``, ``settle:<account>:<series>``,
  ``push:<oracle round>``). An action is recorded *before* its transaction is broadcast
  (status "pending", with its nonce and hashes) and updated when it is mined, so a
  restart finds it and follows the transaction instead of sending a second one.

Reorgs: the scan stops `confirmations` blocks behind the head; if the block at
`last_block` no longer has the recorded hash, the scan rewinds `REWIND` blocks and
re-reads them (re-reading is harmless: accounts are a set, actions are keyed).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
REWIND = 64
MAX_FINISHED_ACTIONS = 5_000  # oldest finished records are dropped beyond this


class StateError(ValueError):
    """A state file that cannot be used with this deployment; the message says why."""


@dataclass
class KeeperState:
    chain_id: int
    market: str
    start_block: int
    last_block: int = -1  # last block whose events are in the index (-1: none yet)
    last_block_hash: str | None = None
    accounts: dict[str, int] = field(default_factory=dict)  # account -> last touching block
    series: dict[int, tuple[int, int, bool]] = field(default_factory=dict)  # strike wad, expiry
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None

    # --- file ---

    @classmethod
    def open(cls, path: str | Path, chain_id: int, market: str, start_block: int) -> KeeperState:
        """Load `path`, or start a new state there; refuses a file of another deployment."""
        path = Path(path)
        if not path.exists():
            state = cls(chain_id, market.lower(), start_block, last_block=start_block - 1)
            state.path = path
            return state
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StateError(f"state file {path}: unreadable ({exc})") from exc
        if raw.get("format") != FORMAT:
            raise StateError(f"state file {path}: format {raw.get('format')}, expected {FORMAT}")
        if int(raw["chain_id"]) != chain_id or str(raw["market"]).lower() != market.lower():
            raise StateError(
                f"state file {path} belongs to market {raw['market']} on chain {raw['chain_id']}, "
                f"not {market} on chain {chain_id}: pass another --state"
            )
        state = cls(
            chain_id=chain_id,
            market=market.lower(),
            start_block=int(raw["start_block"]),
            last_block=int(raw["last_block"]),
            last_block_hash=raw.get("last_block_hash"),
            accounts={a: int(b) for a, b in raw.get("accounts", {}).items()},
            series={int(k): (int(v[0]), int(v[1]), bool(v[2])) for k, v in raw["series"].items()},
            actions=dict(raw.get("actions", {})),
        )
        state.path = path
        return state

    def save(self) -> None:
        if self.path is None:
            return
        self._prune()
        payload = {
            "format": FORMAT,
            "chain_id": self.chain_id,
            "market": self.market,
            "start_block": self.start_block,
            "last_block": self.last_block,
            "last_block_hash": self.last_block_hash,
            "accounts": self.accounts,
            "series": {str(k): [str(v[0]), v[1], v[2]] for k, v in self.series.items()},
            "actions": self.actions,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(payload, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _prune(self) -> None:
        finished = [k for k, a in self.actions.items() if a.get("status") != "pending"]
        for k in finished[: max(0, len(finished) - MAX_FINISHED_ACTIONS)]:
            del self.actions[k]

    # --- index ---

    def touch(self, account: str, block: int) -> None:
        a = account.lower()
        self.accounts[a] = max(block, self.accounts.get(a, -1))

    def version(self, account: str) -> int:
        return self.accounts.get(account.lower(), -1)

    def rewind(self, to_block: int) -> None:
        """Re-read events from `to_block + 1` (after a reorg)."""
        self.last_block = max(self.start_block - 1, to_block)
        self.last_block_hash = None

    # --- actions ---

    def action(self, key: str) -> dict[str, Any] | None:
        return self.actions.get(key)

    def record(self, key: str, **fields: Any) -> dict[str, Any]:
        """Create or update an action record and save at once (before any broadcast)."""
        rec = self.actions.setdefault(key, {})
        rec.update(fields)
        self.save()
        return rec

    def pending(self) -> dict[str, dict[str, Any]]:
        return {k: a for k, a in self.actions.items() if a.get("status") == "pending"}

    def done_count(self, kind: str) -> int:
        return sum(
            1
            for k, a in self.actions.items()
            if k.startswith(kind + ":") and a["status"] == "mined"
        )
