"""Step actions, one module per protocol; each module exports ``ACTIONS`` by step name."""
