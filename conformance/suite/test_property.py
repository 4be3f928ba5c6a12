"""Property-based runs: requests generated from the OpenAPI spec, per endpoint × mode × transport."""


def test_property(conformance_property, conformance_property_run):
    endpoint, mode, transport = conformance_property
    conformance_property_run(endpoint, mode, transport)
