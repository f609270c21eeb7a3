"""Keeper bots for live deployments: a liquidator, a settler and an oracle updater.

The bots decide with agents.decisions (the rules the simulation's keeper agents use) and
the risk engine (through onchain.accounts.AccountIndex), and drive a real node over raw
JSON-RPC (onchain.rpc with retries and back-off, onchain.reader for views):

- sender.py: nonces, fees (base fee aware, stuck transactions replaced, a cap), signing;
- state.py: the bot's event index and its actions, persisted atomically;
- sources.py: where the oracle updater gets prices (CSV, a simulated feed, a feed);
- bots.py: the three bots and the loop that runs them;
- health.py: JSON-line logs, metrics and a small /health and /metrics HTTP endpoint.

`scripts/keeper.py` (`ape run keeper ...`) connects through ape and starts one bot.
"""
