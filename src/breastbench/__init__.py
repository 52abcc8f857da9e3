"""breastbench: rigorous CNN-vs-VLM comparisons for breast imaging classification.

Data flows manifest -> dataset -> model -> mode -> fold runner -> results -> report; each step
lives in its own subpackage (``data``, ``models``, ``experiment``, ``metrics``, ``report``).
"""

__version__ = "0.1.0"
