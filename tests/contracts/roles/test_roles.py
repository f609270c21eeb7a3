"""contracts/modules/roles.vy and pause.vy through their mock, tested once here (the
market, oracle, risk config and timelock test their own role tables and what pause
stops)."""

from __future__ import annotations

import ape
import pytest
from support import ZERO


@pytest.fixture(scope="module")
def roles(project, gov):
    return gov.deploy(project.roles_mock)


def test_deploy__deployer_is_admin_and_guardian_not_paused(roles, gov):
    assert roles.admin() == gov.address and roles.guardian() == gov.address
    assert not roles.paused()


@pytest.mark.parametrize("role", ["admin", "guardian"])
def test_set_role__admin__stores_and_logs(roles, gov, keeper, role):
    tx = roles.set_role(role, keeper, sender=gov)
    assert getattr(roles, role)() == keeper.address
    assert [(e.role, e.account) for e in tx.decode_logs(roles.RoleSet)] == [(role, keeper.address)]


def test_set_role__admin_handed_over__old_admin_refused(roles, gov, keeper):
    roles.set_role("admin", keeper, sender=gov)
    with ape.reverts("mock: not admin"):
        roles.set_role("guardian", gov, sender=gov)
    roles.set_role("guardian", keeper, sender=keeper)


@pytest.mark.parametrize(
    ("role", "account", "who", "message"),
    [
        ("guardian", "keeper", "stranger", "mock: not admin"),
        ("guardian", ZERO, "gov", "mock: zero address"),
        ("owner", "keeper", "gov", "mock: unknown role"),
    ],
)
def test_set_role__refused__reverts_and_keeps_roles(
    roles, gov, keeper, stranger, role, account, who, message
):
    people = {"gov": gov, "keeper": keeper, "stranger": stranger}
    with ape.reverts(message):
        roles.set_role(role, people.get(account, account), sender=people[who])
    assert roles.admin() == gov.address and roles.guardian() == gov.address


def test_pause__guardian_pauses_only_the_admin_resumes(roles, gov, keeper):
    roles.set_role("guardian", keeper, sender=gov)
    tx = roles.set_paused(True, sender=keeper)
    assert roles.paused()
    (ev,) = tx.decode_logs(roles.Paused)
    assert (ev.paused, ev.by) == (True, keeper.address)
    with ape.reverts("mock: not admin or guardian"):
        roles.set_paused(False, sender=keeper)
    roles.set_paused(False, sender=gov)
    assert not roles.paused()


def test_pause__stranger__refused_either_way(roles, stranger):
    for paused in (True, False):
        with ape.reverts("mock: not admin or guardian"):
            roles.set_paused(paused, sender=stranger)
