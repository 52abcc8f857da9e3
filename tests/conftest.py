"""Suite-wide guards: no test may reach the network or a display."""

from __future__ import annotations

import os

# Set before any test imports transformers/huggingface_hub/open_clip: every hub lookup fails
# fast instead of trying the network, so a test that would need a download fails loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
