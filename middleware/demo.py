"""The demo site: free and priced pages behind ``GateMiddleware``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from gate.gatekeeper import Gatekeeper
from gate.rules import Action, Rule, RuleSet
from middleware.asgi import GateMiddleware

DEMO_RULES = RuleSet(
    [
        Rule("/articles/", price=1_500, budget=5, pass_ttl=1_800),
        Rule("/api/", price=3_000, budget=20, pass_ttl=3_600),
        Rule("/private/", action=Action.DENY),
    ]
)

_HOME = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo site</title></head>
<body><main><h1>Reasoning Gate demo</h1>
<p>This page is free. The <a href="/articles/1">articles</a> cost a puzzle (a pass opens 5 pages);
<a href="/api/data">/api/data</a> costs more; <a href="/private/">/private/</a> is closed.</p>
</main></body></html>"""


async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(_HOME)


async def article(request: Request) -> HTMLResponse:
    number = int(request.path_params["number"])
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Article {number}</title>'
        f"</head><body><main><h1>Article {number}</h1><p>Paid for with reasoning.</p>"
        f'<p><a href="/articles/{number + 1}">Next article</a></p></main></body></html>'
    )


async def data(request: Request) -> JSONResponse:
    return JSONResponse({"data": [1, 2, 3], "note": "priced API response"})


def demo_app(gatekeeper: Gatekeeper) -> ASGIApp:
    site = Starlette(
        routes=[
            Route("/", home),
            Route("/articles/{number:int}", article),
            Route("/api/data", data),
        ]
    )
    return GateMiddleware(site, gatekeeper)


def walkthrough(base: str, gate: str = "gate") -> str:
    """What ``gate demo`` prints: requests to try by hand, and the scripted cycle."""
    path_hint = (
        f"\nRun gate as {gate} (or activate the environment first: . .venv/bin/activate).\n"
        if gate != "gate"
        else ""
    )
    return f"""
Reasoning Gate demo on {base}

  1. A free page:
       curl -i {base}/
  2. A priced page answers 401 with a puzzle (JSON for programs; try -H 'Accept: text/markdown'):
       curl -i {base}/articles/1
     or open {base}/articles/1 in a browser for the accessible form.
  3. Solving takes reasoning: answer each clue, read the initials, POST the hidden word(s) to the
     challenge URL in the 401; the reply carries the pass. To watch a program do it (challenge,
     solve, pass, budget) with real output, run in another terminal:
       {gate} demo --walkthrough
  4. Every response paid with the pass tells the budget left in Gate-Budget-Remaining; after 5
     pages the pass is used up and the next request is challenged again.
{path_hint}"""
