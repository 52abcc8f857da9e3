"""Evaluation protocols on cached features: label-efficiency draws, kNN/SimpleShot, tuned probe.

Each protocol is a pure function over arrays or DataFrames so the runner can call it on the
feature cache of any model; nothing here reads files or knows about run folders.
"""
