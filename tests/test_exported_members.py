import socialcredit


def test_public_api_is_pinned():
    assert sorted(socialcredit.__all__) == sorted([
        "Policy", "PolicyError", "PolicyFileError", "Population", "RunConfigError",
        "RunOutputError", "RunResult", "ScenarioNotFoundError", "SocialCreditError",
        "__version__", "build_population", "daily_metrics", "details", "list_scenarios",
        "load_experiment", "load_policy", "load_scenario", "parse_policy", "simulate",
        "summary", "sweep",
    ])
    for name in socialcredit.__all__:
        assert hasattr(socialcredit, name), name


def test_errors_share_one_root():
    for name in ("PolicyError", "PolicyFileError", "RunConfigError", "RunOutputError",
                 "ScenarioNotFoundError"):
        assert issubclass(getattr(socialcredit, name), socialcredit.SocialCreditError)
