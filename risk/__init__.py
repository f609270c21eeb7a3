"""optsim risk."""
