# pragma version 0.4.3
"""
@title roles
@notice The admin of a contract: who may configure it, and the event every role change
        emits.
@dev A contract `initializes:` this module, calls `roles.__init__()` in its constructor
     (the deployer becomes admin) and exports `roles.admin`. Its own role setters check
     `_check_admin` and log `RoleSet`; they may write `roles.admin` to hand it over.
     Assumptions and hazards:
     - Revert messages start with the owning contract's name, passed as `prefix`.
     - This module does not restrict what the admin may do: each owning contract states
       its own admin powers (and their limits) in its header.
"""

# --- events ---

event RoleSet:
    role: String[16]
    account: address

# --- storage ---

admin: public(address)


@deploy
def __init__():
    """
    @notice The deployer is the first admin.
    """
    self.admin = msg.sender


@internal
@view
def _check_admin(prefix: String[16]):
    """
    @notice Revert with "<prefix>: not admin" unless the caller is the admin.
    """
    if msg.sender != self.admin:
        raise concat(prefix, ": not admin")


@internal
@pure
def _check_account(prefix: String[16], account: address):
    """
    @notice Revert with "<prefix>: zero address" for the zero address (a role nobody holds).
    """
    if account == empty(address):
        raise concat(prefix, ": zero address")
