"""The experiment file's typed loading, re-exported from :mod:`breastbench.schema`.

The codec sits on the bottom floor so that ``results/`` and ``report/`` load their sections
without importing ``experiment/``; the study's modules keep importing it from here.
"""

from breastbench.schema import _type_name, coerce, describe, from_dict, to_dict

__all__ = ["_type_name", "coerce", "describe", "from_dict", "to_dict"]
