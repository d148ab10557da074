"""NetworkPolicy end to end, as the Kubernetes conformance suite checks it:
every case of tests/fixtures/netpol-upstream-cases.json (the upstream e2e
suite's policies and expected denials on its x/y/z × a/b/c model), and its
UDP copy, on two nodes, each probe through every pod's ClusterIP and by pod
IP, the verdicts coming from kxdp's datapath alone."""
import pytest

import netpol_model

CASES = netpol_model.load_cases()
UDP_CASES = [c for c in map(netpol_model.udp_copy, CASES) if c]


@pytest.fixture(scope="module")
def model():
    with netpol_model.running_model() as m:
        yield m


def run_case(model, case):
    try:
        for step in case["steps"]:
            for action in step["actions"]:
                model.act(action)
            for probe in step["probes"]:
                model.expect(probe["port"], probe["proto"].lower(), probe["expect"])
    finally:
        model.reset()


def test_model_starts_open(model):
    """No policy: every pod reaches every other, both ways of addressing, TCP and UDP."""
    model.expect(80, "tcp", [])
    model.expect(81, "udp", [])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_upstream_case(model, case):
    run_case(model, case)


@pytest.mark.parametrize("case", UDP_CASES, ids=[c["id"] for c in UDP_CASES])
def test_upstream_case_udp(model, case):
    run_case(model, case)
