"""The sampling-based teacher: MPPI over PD-target residuals from the true MuJoCo state (mppi.py),
`humanoid-fpo teach` with its per-clip cache (teach.py) and the demonstrations file (demos.py)."""
