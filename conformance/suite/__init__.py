"""The conformance suite itself, run by pytest (`conformance run`, or `pytest --pyargs conformance.suite`)."""
