"""Every fault test that loads a hand-built landing tree (tests/faults/landing.py `Tree`) is also
checked for rows lost: each landed record of a file the loader took is in the raw layer or in the
quarantine. The count is kept as the test's `rows_lost` property for `siyu faults`."""

from __future__ import annotations

import pytest

from tests.faults.landing import Tree


@pytest.fixture(autouse=True)
def _no_row_lost(request):
    Tree.instances.clear()
    yield
    trees, Tree.instances[:] = list(Tree.instances), []
    if not trees:
        return
    lost = sum(t.lost for t in trees)
    request.node.user_properties.append(("rows_lost", lost))
    for t in trees:
        t.con.close()
    assert lost == 0, f"{lost} landed row(s) are neither loaded nor quarantined"
