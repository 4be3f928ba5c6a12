"""Repository-wide pytest set-up: what pytest must never collect from a checkout."""

#: Run output, data and build trees hold no tests of ours.
collect_ignore = ["reports", "fixtures", "specs", "build", "dist", ".venv"]
