"""Training stage: pair sampling, per-method objectives, the loop, checkpoints, logs."""
