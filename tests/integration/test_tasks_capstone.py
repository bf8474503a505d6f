"""The tasks of notebook 12 (meshlab.tasks.capstone) on a running two-namespace Bookinfo (frontend on
sidecars, backend in ambient mode), each three ways — blank (fails), a wrong answer (fails, naming
what is wrong), the solution (passes) — and every learner's variant of the seeded faults. The
answers and solutions are the ones in solutions/ (for each variant); other wrong answers are written
here."""

import pytest

from meshlab import Lab
from meshlab.classroom.solutions import answer_for, run_lab_answer
from meshlab.tasks import TASKS
from meshlab.tasks.capstone import BASELINE, FAULTS

pytestmark = pytest.mark.integration

HEALTHY = TASKS["make-the-mesh-healthy"]
EXPORT = TASKS["export-it"]

#: what each fault's check message names
SAYS = {
    "subset": "product reviews are currently unavailable",
    "deny": "product details are currently unavailable",
    "plaintext": "productpage-v1-0/istio-proxy took requests in plaintext",
    "identity": "Ratings service is currently unavailable",
}


@pytest.fixture(scope="module")
def lab():
    lab = Lab("bookinfo-two-namespaces", mode="sidecar", verbose=False).start()
    yield lab
    lab.stop()


@pytest.mark.parametrize("variant", HEALTHY.variants, ids=lambda v: "+".join(v["faults"]))
def test_make_the_mesh_healthy_each_variant(lab, variant):
    lab.delete(all=True) if lab.policies() else None
    HEALTHY.setup(lab, variant)
    assert HEALTHY.check(lab, None, variant).passed is False
    broken = HEALTHY.check(lab, "done", variant)
    assert broken.passed is False
    for f in variant["faults"]:
        if f == "identity" and "subset" in variant["faults"]:
            continue  # masked: no page reaches reviews, so none reaches ratings either
        assert SAYS[f] in broken.message, (f, broken.message)
    # wrong: everything deleted — whole pages, but the team's configuration is gone
    run_lab_answer(answer_for(HEALTHY, variant, wrong=True), HEALTHY, lab, variant)
    wrong = HEALTHY.check(lab, "done", variant)
    assert (
        wrong.passed is False
        and "not targeted" in wrong.message
        and "VirtualService backend/reviews" in wrong.message
    )
    # the targeted fixes (the solution seeds the task again first: ex.begin, as the notebook's answer cell)
    run_lab_answer(answer_for(HEALTHY, variant), HEALTHY, lab, variant)
    res = HEALTHY.check(lab, "done", variant)
    assert res.passed is True, res.message
    # wrong: ratings' policy deleted rather than corrected (the other faults fixed) lets the client in
    if "identity" in variant["faults"]:
        lab.delete(kind="AuthorizationPolicy", name="ratings-callers", namespace="backend")
        res = HEALTHY.check(lab, "done", variant)
        assert res.passed is False and "AuthorizationPolicy backend/ratings-callers" in res.message


def test_export_it_blank_wrong_and_solved(lab, tmp_path):
    lab.delete(all=True) if lab.policies() else None
    EXPORT.setup(lab, EXPORT.variants[0])
    assert EXPORT.check(lab, EXPORT.skeleton).passed is False
    assert "no folder" in EXPORT.check(lab, str(tmp_path / "nowhere")).message
    out = tmp_path / "out"
    lab.export(out)
    assert EXPORT.check(lab, str(out)).passed is True
    # a fault applied after the export: the folder no longer says what is in force
    lab.apply(FAULTS["plaintext"])
    res = EXPORT.check(lab, str(out))
    assert res.passed is False and "lacks DestinationRule frontend/productpage" in res.message
    lab.export(out)
    res = EXPORT.check(lab, str(out))
    assert res.passed is False and "did not mean" in res.message
    # a replaced object exported broken
    lab.delete(kind="DestinationRule", name="productpage", namespace="frontend")
    lab.apply(FAULTS["identity"])
    lab.export(out)
    res = EXPORT.check(lab, str(out))
    assert res.passed is False and "is the broken one" in res.message
    lab.apply(BASELINE.split("---")[3])  # the team's ratings-callers again
    lab.export(out)
    assert EXPORT.check(lab, str(out)).passed is True
