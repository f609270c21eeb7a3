# pragma version 0.4.3
"""
@title pause
@notice A guardian who may stop new risk at once; only the admin may resume.
@dev A contract `initializes: pause`, calls `pause.__init__()` (the deployer becomes
     guardian), exports `pause.paused` and `pause.guardian`, and reads `pause.paused`
     where new risk would be taken. Its `set_paused` calls `_set_paused` with its admin;
     its role setter may write `pause.guardian`.
     Assumptions and hazards:
     - What "new risk" is, and what keeps working while paused, is the owning contract's
       rule (stated in its header).
     - The guardian can pause but never unpause, so a compromised guardian key can halt
       new risk but not undo a pause the admin chose.
"""

# --- events ---

event Paused:
    paused: bool
    by: address

# --- storage ---

paused: public(bool)
guardian: public(address)


@deploy
def __init__():
    """
    @notice The deployer is the first guardian; not paused.
    """
    self.guardian = msg.sender


@internal
def _set_paused(prefix: String[16], paused: bool, admin: address):
    """
    @notice Pause (the guardian or the admin) or unpause (the admin only); otherwise revert
            with "<prefix>: not admin or guardian".
    """
    if not (msg.sender == admin or (msg.sender == self.guardian and paused)):
        raise concat(prefix, ": not admin or guardian")
    self.paused = paused
    log Paused(paused=paused, by=msg.sender)
