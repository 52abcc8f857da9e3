"""Experiments: YAML schema, grid of runs, caches, training loop, runner, predict."""
