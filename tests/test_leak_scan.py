from tests.plugins.leaks import LeakLedger


def test_the_leak_scan_finds_a_planted_answer_in_any_case() -> None:
    ledger = LeakLedger()
    ledger.secrets.add("qzvbk")
    ledger.haystacks += [("body", '{"puzzle": "clues only"}'), ("log", "solved with QZVBK")]
    hits = ledger.scan()
    assert len(hits) == 1 and hits[0].startswith("log")


def test_the_leak_scan_ignores_tokens_that_merely_contain_the_answer() -> None:
    ledger = LeakLedger()
    ledger.secrets.add("qzvbk")
    ledger.haystacks.append(("body", "xqzvbkx"))
    assert ledger.scan() == []
