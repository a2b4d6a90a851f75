import pytest

from gate.errors import ConfigError
from gate.pricing import TIER_COST, RateCurve, puzzle_spec, seconds_until, sliding_rate
from gate.rules import Action, Rule, RuleSet, normalize_path

RULES = RuleSet(
    [
        Rule("/api/", price=1000),
        Rule("/api/public/", action=Action.ALLOW),
        Rule("/admin", action=Action.DENY),
    ]
)


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/api/x", Action.PRICE),
        ("/api", Action.PRICE),
        ("/api/public/x", Action.ALLOW),
        ("/admin", Action.DENY),
        ("/admin/users", Action.DENY),
        ("/administrator", Action.ALLOW),
        ("/", Action.ALLOW),
    ],
)
def test_the_longest_matching_prefix_wins(path: str, action: Action) -> None:
    assert RULES.match(normalize_path(path)).action is action


@pytest.mark.parametrize(
    "path",
    [
        "/api/public/../secret",
        "//api//secret",
        "/api/public/./../secret",
        "/./api/secret",
        "api/secret",
    ],
)
def test_path_tricks_cannot_reach_a_free_rule_for_a_priced_path(path: str) -> None:
    assert RULES.match(normalize_path(path)).action is Action.PRICE


def test_rule_digest_changes_when_payment_terms_change() -> None:
    assert Rule("/a/", price=10).digest != Rule("/a/", price=11).digest
    assert Rule("/a/", price=10).digest == Rule("/a/", price=10).digest


def test_invalid_rules_are_refused() -> None:
    with pytest.raises(ConfigError):
        Rule("api/")
    with pytest.raises(ConfigError):
        Rule("/api/", price=0)


def test_the_rate_curve_interpolates_and_clamps() -> None:
    curve = RateCurve.parse("0:1,10:1,20:3")
    assert curve.multiplier(5) == 1
    assert curve.multiplier(15) == 2
    assert curve.multiplier(1000) == 3
    with pytest.raises(ConfigError):
        RateCurve.parse("10:1,0:2")
    with pytest.raises(ConfigError):
        RateCurve.parse("a:b")


def test_price_becomes_longer_words_then_more_gates() -> None:
    small = puzzle_spec(600, tier=2)
    assert (small.gates, small.length) == (1, 4)
    larger = puzzle_spec(TIER_COST[2] * 10, tier=2)
    assert (larger.gates, larger.length) == (1, 10)
    huge = puzzle_spec(TIER_COST[2] * 30, tier=2)
    assert huge.gates == 3 and huge.gates * huge.length >= 30


def test_sliding_rate_weights_the_previous_window() -> None:
    assert sliding_rate(current=10, previous=60, window=60, now=30) == 40


def test_max_rate_inverts_the_curve() -> None:
    curve = RateCurve.parse("0:1,10:1,20:3")
    assert curve.max_rate(2) == 15
    assert curve.max_rate(1) == 10
    assert curve.max_rate(5) == float("inf")


def test_seconds_until_a_rate_falls_below_a_limit() -> None:
    # 30 s into a 60 s window, 10 requests now and 60 before: the rate is 40.
    assert seconds_until(current=10, previous=60, window=60, now=30, limit=40) == 0
    assert sliding_rate(10, 60, 60, 30 + seconds_until(10, 60, 60, 30, limit=20)) == pytest.approx(
        20
    )
    wait = seconds_until(current=50, previous=0, window=60, now=30, limit=10)
    assert wait == pytest.approx(30 + 60 * 0.8)
    assert sliding_rate(0, 50, 60, 30 + wait) == pytest.approx(10)


def test_rules_that_share_a_scope_and_terms_share_passes() -> None:
    http = Rule("/api/", price=900, scope="bundle:api")
    tool = Rule(scope="bundle:api", price=900)
    assert http.digest == tool.digest and http.scope == tool.scope == "bundle:api"
    assert Rule(scope="bundle:api", price=901).digest != http.digest
    assert Rule("/api/").scope == "http:/api/"


def test_a_rule_without_prefix_needs_a_scope_and_stays_out_of_http_rule_sets() -> None:
    with pytest.raises(ConfigError):
        Rule()
    with pytest.raises(ConfigError):
        RuleSet([Rule(scope="mcp:search")])
