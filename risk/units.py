"""Units every package shares: the contracts' fixed-point scales and time in seconds.

On-chain, ratios, vols, prices and option sizes are integers scaled by WAD (1e18 = 1.0),
collateral amounts are in the token's units (USDC: 1e6 = 1 USDC), and gas prices in wei.
Times are unix seconds; a year is 365 days, as in the contracts' Black-Scholes.
"""

WAD = 10**18  # 1e18 = 1.0 (ratios, vols, USD prices, contracts)
USDC = 10**6  # token units per USDC
ETH = 10**18  # wei per ether
GWEI = 10**9  # wei per gwei
ETH_PER_GWEI = GWEI / ETH  # 1e-9 (exactly the float 1e-9): gwei prices to ether

HOUR = 3_600  # seconds
DAY = 86_400
YEAR_SEC = 365 * DAY  # 31,536,000 s: the contracts' year (annualised vols and rates use it)
