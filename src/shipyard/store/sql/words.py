"""Readable default run names ("brave-otter-417"), like MLflow's, so runs are easy to tell apart."""

from __future__ import annotations

import random

__all__ = ["random_run_name"]

_ADJECTIVES = ["able", "amber", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "daring", "deft", "eager", "fair", "fast", "fine", "gentle", "glad", "grand", "happy", "keen", "kind", "lively", "lucky", "merry", "mild", "neat", "nimble", "noble", "plain", "proud", "quick", "quiet", "rapid", "sharp", "shy", "sleek", "smart", "snug", "solid", "steady", "sunny", "swift", "tidy", "true", "vivid", "warm", "wise", "witty", "young", "zesty"]
_NOUNS = ["ant", "bat", "bear", "bee", "bison", "boar", "cat", "crab", "crane", "crow", "deer", "dove", "duck", "eagle", "eel", "elk", "finch", "fox", "frog", "gull", "hare", "hawk", "heron", "ibis", "jay", "koala", "lark", "lion", "lynx", "mole", "moth", "newt", "otter", "owl", "panda", "pike", "puma", "quail", "raven", "robin", "seal", "shark", "sloth", "snail", "squid", "stork", "swan", "tiger", "toad", "trout", "viper", "whale", "wolf", "wren", "yak"]


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"
