from tests.report.test_report import pair, run_dir  # noqa: F401 - shared fixtures
