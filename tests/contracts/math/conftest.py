"""Fixtures for the fixed-point math and Black-Scholes modules.

The reference functions work in 50-digit `decimal` arithmetic, so they are
exact for our purpose: any difference from the contract is contract error.

Note: ape-vyper does not recompile a contract when only a module it imports
changed. After editing contracts/modules/*.vy run
`ape compile -f contracts/mocks/math_harness_mock.vy` (or `ape compile -f`).
"""

from decimal import Decimal, localcontext
from types import SimpleNamespace

import pytest

from risk.units import WAD, YEAR_SEC

PREC = 50  # decimal digits in the reference arithmetic

PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")


def ref_ncdf(x: Decimal) -> Decimal:
    """N(x) from N(x) = 1/2 + n(x) * sum x^(2k+1) / (1*3*...*(2k+1)).

    The series converges for all x; at 50 digits it stays exact to ~1e-40
    absolute for |x| <= 12, enough to judge 1e-18 errors.
    """
    with localcontext() as ctx:
        ctx.prec = PREC + 30
        x = Decimal(x)
        x2 = x * x
        term = x
        total = x
        k = 0
        while abs(term) > Decimal(10) ** -(PREC + 20) or k < 10:
            k += 1
            term = term * x2 / (2 * k + 1)
            total += term
        pdf = (-x2 / 2).exp() / (2 * PI).sqrt()
        return +(Decimal("0.5") + pdf * total)


def ref_npdf(x: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = PREC
        return (-(Decimal(x) ** 2) / 2).exp() / (2 * PI).sqrt()


def ref_bs(
    spot: int, strike: int, t_sec: int, vol: int, is_call: bool
) -> tuple[Decimal, Decimal, Decimal]:
    """Black-Scholes (price, vega, call delta) at zero rate, all in 1e18 units."""
    with localcontext() as ctx:
        ctx.prec = PREC
        s, k = Decimal(spot), Decimal(strike)
        sd = Decimal(vol) / WAD * (Decimal(t_sec) / YEAR_SEC).sqrt()
        d1 = ((s / k).ln() + sd * sd / 2) / sd
        d2 = d1 - sd
        n1, n2 = ref_ncdf(d1), ref_ncdf(d2)
        call = s * n1 - k * n2
        price = call if is_call else call - s + k
        vega = s * ref_npdf(d1) * (Decimal(t_sec) / YEAR_SEC).sqrt()
        return price, vega, n1 * WAD


@pytest.fixture(scope="module")
def ref():
    """Exact reference functions (decimal arithmetic)."""
    return SimpleNamespace(ncdf=ref_ncdf, npdf=ref_npdf, bs=ref_bs, prec=PREC)


@pytest.fixture(scope="module")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def harness(project, deployer):
    """math_harness_mock: every fixed_math / black_scholes internal as an external."""
    return deployer.deploy(project.math_harness_mock)
