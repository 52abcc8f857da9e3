"""`make test`'s ``--dist loadgroup`` really keeps an ``xdist_group`` on one worker.

pytest-xdist marks a grouped test by suffixing its node id with ``@<group>``; with pytest 9.2
the suffix silently did not take, the "ray" group (the Ray executor tests and the benchmark
smoke, each starting a local Ray) spread over both workers and the 75 s smoke ran twice.
"""

import pytest

pytestmark = pytest.mark.xdist_group("ray")


def test_the_group_reaches_the_scheduler(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist --dist loadgroup")
    assert request.node.nodeid.endswith("@ray"), (
        f"{request.node.nodeid}: pytest-xdist did not group this test; check the pytest pin in "
        "constraints.txt"
    )
