# pragma version 0.4.3
"""
@title roles_mock
@notice Test harness of modules/roles.vy and modules/pause.vy, wired as an owning contract
        wires them: an admin who sets roles, a guardian who may pause.
@dev Test-only; never deploy to a live network. Reverts start with "mock".
"""

from ..modules import pause
from ..modules import roles

initializes: roles
initializes: pause
exports: (roles.admin, pause.guardian, pause.paused)

PREFIX: constant(String[16]) = "mock"


@deploy
def __init__():
    roles.__init__()
    pause.__init__()


@external
def set_role(role: String[16], account: address):
    """
    @notice Set "admin" or "guardian". Admin only.
    @param role the role name
    @param account the new holder
    """
    roles._check_admin(PREFIX)
    roles._check_account(PREFIX, account)
    if role == "admin":
        roles.admin = account
    elif role == "guardian":
        pause.guardian = account
    else:
        raise "mock: unknown role"
    log roles.RoleSet(role=role, account=account)


@external
def set_paused(paused: bool):
    """
    @notice Pause (guardian or admin) or unpause (admin).
    @param paused True to pause
    """
    pause._set_paused(PREFIX, paused, roles.admin)
