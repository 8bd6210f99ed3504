"""`orderbot bench`: the benchmark suite. Lives beside the package (not in the wheel); uses the test fakes."""
