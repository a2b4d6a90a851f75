"""Path semantics (gate.paths): the reading the gate prices and the readings other upstreams make.

Middleware tests here run in-process; the reverse proxy's real-socket tests are in test_proxy.py.
"""

from __future__ import annotations

import posixpath
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gate.config import GateConfig
from gate.errors import AmbiguousPath, ConfigError
from gate.gatekeeper import Gatekeeper, GateSettings
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.paths import PathSemantics, check_target
from gate.rules import Action, Rule, RuleSet
from gate.store import MemoryStore
from middleware import GateMiddleware
from tests.support import FixedWordSource

RULES = RuleSet([Rule("/articles/", price=600), Rule("/closed/", action=Action.DENY)])
JSON = {"Accept": "application/json"}
# The spellings of issue 18 that reached /articles/ free behind Tomcat or IIS, and relatives.
TRICKS = (
    "/articles;x/1.html",
    "/articles;jsessionid=AB12/1.html",
    "/articles;/1.html",
    "/x/..;/articles/1.html",
    "/ARTICLES/1.html",
    "/Articles/1.html",
    "/articles./1.html",
    "/articles../1.html",
    "/articles /1.html",
    "/articles. /1.html",
    "/ARTICLES;x/1.html",
    "/Articles./1.html",
    "/articles::$DATA/1.html",
    "/\uff41rticles/1.html",  # full-width a
    "/ARTICL~1/1.html",
    "/articles\\1.html",
)


def app(semantics: str = "strict") -> TestClient:
    settings = GateSettings(paths=PathSemantics.parse(semantics))
    keeper = Gatekeeper(
        MemoryStore(), FixedWordSource(), PassCodec(KeyRing.generate()), RULES, settings
    )

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.url.path)

    site = Starlette(routes=[Route("/{path:path}", page)])
    return TestClient(GateMiddleware(site, keeper), client=("203.0.113.5", 4000))


@pytest.mark.parametrize("path", TRICKS)
def test_strict_refuses_every_spelling_an_upstream_could_read_as_the_priced_page(path: str) -> None:
    response = app().get(path, headers=JSON)
    assert response.status_code == 400, path
    assert response.json()["error"] == "ambiguous_path"


def test_strict_lets_through_spellings_every_reading_prices_the_same() -> None:
    client = app()
    for path in ("/about;v=2", "/About", "/about.", "/Docs/Intro.HTML", "/caf\u00e9"):
        assert client.get(path).status_code == 200, path
    for path in ("/articles/1.html", "/articles/Chapter-One", "/articles/v1.2"):
        assert client.get(path, headers=JSON).status_code == 401, path
    assert client.get("/closed/X", headers=JSON).status_code == 403


def test_tomcat_prices_path_parameters_as_the_upstream_reads_them() -> None:
    client = app("tomcat")
    for path in ("/articles;jsessionid=AB12/1.html", "/articles/1.html;v=1", "/x/..;/articles/1"):
        assert client.get(path, headers=JSON).status_code == 401, path
    assert client.get("/free;jsessionid=1").status_code == 200
    # What Tomcat does not fold is still refused.
    assert client.get("/ARTICLES/1.html", headers=JSON).status_code == 400


def test_iis_prices_case_and_trailing_dots_as_the_upstream_reads_them() -> None:
    client = app("iis")
    for path in ("/ARTICLES/1.html", "/Articles./1.html", "/articles%20/1.html"):
        assert client.get(path, headers=JSON).status_code == 401, path
    assert client.get("/articles;x/1.html", headers=JSON).status_code == 400
    assert client.get("/ARTICL~1/1.html", headers=JSON).status_code == 400


def test_case_insensitive_semantics_need_lower_case_rule_prefixes() -> None:
    settings = GateSettings(paths=PathSemantics.parse("case-insensitive"))
    with pytest.raises(ConfigError, match="lower case"):
        Gatekeeper(
            MemoryStore(),
            FixedWordSource(),
            PassCodec(KeyRing.generate()),
            RuleSet([Rule("/Articles/")]),
            settings,
        )


def test_the_setting_is_read_from_the_environment_and_named_when_wrong() -> None:
    config = GateConfig.from_env({"GATE_PATH_SEMANTICS": "tomcat, case-insensitive"})
    assert config.gate.paths.describe() == "matrix-parameters,case-insensitive"
    assert GateConfig.from_env({}).gate.paths.describe() == "strict"
    with pytest.raises(ConfigError, match="GATE_PATH_SEMANTICS"):
        GateConfig.from_env({"GATE_PATH_SEMANTICS": "nginx"})


# -- properties of the normaliser ------------------------------------------------------------------

_SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + ";.~:$ -_", max_size=8)
_PATHS = st.lists(_SEGMENT, max_size=6).map(lambda parts: "/" + "/".join(parts))
_MODES = st.sets(
    st.sampled_from(
        ["matrix-parameters", "trailing-dots", "case-insensitive", "unicode-compatibility"]
    )
).map(lambda names: PathSemantics(frozenset(names)))


@given(_PATHS, _MODES)
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_a_priced_reading_is_normal_and_a_fixed_point(path: str, semantics: PathSemantics) -> None:
    try:
        priced, others = semantics.readings(path)
    except AmbiguousPath:
        return
    assert priced.startswith("/") and "//" not in priced
    assert all(part not in (".", "..") for part in priced.split("/"))
    assert semantics.readings(priced)[0] == priced
    assert priced not in others


@given(_PATHS)
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_strict_names_every_reading_a_declared_folding_would_price(path: str) -> None:
    """Whatever the upstream folds, its reading is the strict gate's priced one or among the
    others it checks: so no upstream can read a spelling at terms the strict gate did not see."""
    try:
        priced, others = PathSemantics().readings(path)
    except AmbiguousPath:
        return
    for names in (
        {"matrix-parameters"},
        {"trailing-dots"},
        {"case-insensitive"},
        {"case-insensitive", "trailing-dots"},
        {"matrix-parameters", "case-insensitive", "trailing-dots", "unicode-compatibility"},
    ):
        upstream = PathSemantics(frozenset(names)).readings(path)[0]
        assert upstream == priced or upstream in others, (path, names)


@given(st.text(max_size=30))
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_check_target_passes_only_raw_paths_that_decode_to_the_priced_one(text: str) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    try:
        accepted = check_target(raw, posixpath.normpath("/" + text))
    except AmbiguousPath:
        return
    assert accepted == raw and accepted.startswith(b"/") and b"\\" not in accepted
