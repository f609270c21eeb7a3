"""optsim agents."""
