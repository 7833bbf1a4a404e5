"""What decides: features, baselines, the RL policy, its environment and training."""
