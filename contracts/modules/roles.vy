# pragma version 0.4.3
"""
@title roles
@notice The admin of a contract: who may configure it, how it is handed over (in two
        steps), and the event every role change emits.
@dev A contract `initializes:` this module, calls `roles.__init__()` in its constructor
     (the deployer becomes admin) and exports `roles.admin`, `roles.pending_admin`,
     `roles.transfer_admin` and `roles.accept_admin`. Its own role setters check
     `_check_admin` and log `RoleSet`.
     Assumptions and hazards:
     - Revert messages of the owning contract's checks start with its name, passed as
       `prefix`; the exported transfer functions say "roles:".
     - A transfer takes effect only when the new admin accepts it, so a mistyped address
       never locks the contract; until then the old admin stays in charge and may
       nominate another.
     - This module does not restrict what the admin may do: each owning contract states
       its own admin powers (and their limits) in its header.
"""

# --- events ---

event RoleSet:
    role: String[16]
    account: address

# --- storage ---

admin: public(address)
pending_admin: public(address)  # nominated by the admin, admin once it accepts


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


@external
def transfer_admin(account: address):
    """
    @notice Nominate the next admin (step 1 of 2; it takes over when it accepts). Admin only.
    @param account the new admin: the timelock, a multisig
    """
    self._check_admin("roles")
    self._check_account("roles", account)
    self.pending_admin = account
    log RoleSet(role="pending_admin", account=account)


@external
def accept_admin():
    """
    @notice Take over as admin (step 2 of 2). The nominated account only.
    """
    if msg.sender != self.pending_admin or msg.sender == empty(address):
        raise "roles: not pending admin"
    self.admin = msg.sender
    self.pending_admin = empty(address)
    log RoleSet(role="admin", account=msg.sender)
