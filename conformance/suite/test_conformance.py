"""Every conformance case, through every transport it applies to (parametrized by the plugin)."""


def test_case(conformance_case, conformance_run):
    case, transport = conformance_case
    conformance_run(case, transport)
