"""``gate proxy``: serve a ``ReverseProxy`` behind the gate, and the ``--rule`` syntax it takes.

Until the policy engine exists, rules are short strings, one per ``--rule`` (or one per line of a
rules file, ``#`` starting a comment):

    PREFIX=allow                                   free
    PREFIX=deny                                    403
    PREFIX=price:TOKENS[:budget=N][:ttl=S][:free=N]
        e.g. /api/=price:3000:budget=50:ttl=3600   3,000 solver tokens buy 50 requests for an hour

``PREFIX`` starts with '/' and matches on segment boundaries (longest prefix wins); ``free`` is the
number of requests per rate window a client makes before paying.  Unmatched paths are free.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import httpx2

from gate.config import GateConfig
from gate.errors import ConfigError
from gate.rules import Action, Rule, RuleSet
from middleware.proxy import DEFAULT_MAX_BODY, proxy_app

__all__ = ["load_rules", "parse_rule", "parse_rules", "serve_proxy"]

# option name in the rule string -> Rule field
_OPTIONS = {"budget": "budget", "ttl": "pass_ttl", "free": "free_per_window"}


def parse_rule(text: str) -> Rule:
    """Parse ``PREFIX=ACTION[...]``; a ConfigError names the part that is wrong."""
    prefix, sep, spec = text.strip().partition("=")
    prefix = prefix.strip()
    if not sep or not spec.strip():
        raise ConfigError(
            f"rule {text!r}: expected PREFIX=allow, PREFIX=deny or PREFIX=price:TOKENS"
        )
    if not prefix.startswith("/"):
        raise ConfigError(f"rule {text!r}: prefix {prefix!r} must start with '/'")
    action_text, *options = (part.strip() for part in spec.split(":"))
    try:
        action = Action(action_text.lower())
    except ValueError:
        raise ConfigError(
            f"rule {text!r}: unknown action {action_text!r} (use allow, deny or price)"
        ) from None
    fields: dict[str, int] = {}
    if action is Action.PRICE:
        if not options:
            raise ConfigError(f"rule {text!r}: price needs a token count, e.g. price:3000")
        fields["price"] = _positive(text, "price", options.pop(0))
    for option in options:
        name, eq, value = option.partition("=")
        name = name.strip().lower()
        if action is not Action.PRICE:
            raise ConfigError(f"rule {text!r}: {action.value} takes no options, got {option!r}")
        if not eq or name not in _OPTIONS:
            raise ConfigError(
                f"rule {text!r}: unknown option {option!r} (use budget=N, ttl=SECONDS, free=N)"
            )
        if _OPTIONS[name] in fields:
            raise ConfigError(f"rule {text!r}: option {name!r} given twice")
        fields[_OPTIONS[name]] = _positive(text, name, value, allow_zero=name == "free")
    try:
        return Rule(prefix, action=action, **fields)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ConfigError(f"rule {text!r}: {exc}") from exc


def parse_rules(texts: Iterable[str]) -> RuleSet:
    rules: dict[str, Rule] = {}
    for text in texts:
        rule = parse_rule(text)
        assert rule.prefix is not None
        if rule.prefix in rules:
            raise ConfigError(f"rule {text!r}: prefix {rule.prefix!r} has a rule already")
        rules[rule.prefix] = rule
    return RuleSet(rules.values())


def load_rules(path: Path) -> list[str]:
    """Rule strings from a file: one per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc}") from exc
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def _positive(text: str, name: str, value: str, *, allow_zero: bool = False) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or (int(value) == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"rule {text!r}: {name} {value!r} must be {kind} integer")
    return int(value)


async def serve_proxy(
    upstream: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    rules: Sequence[str] = (),
    rules_path: Path | None = None,
    redis_url: str | None = None,
    database_url: str | None = None,
    config: GateConfig | None = None,
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
    max_body: int = DEFAULT_MAX_BODY,
    allowed_redirect_origins: Sequence[str] = (),
    log_level: str = "info",
    ready: Callable[[str], None] | None = None,
    metrics_port: int | None = None,
    admin: bool = False,
    reuse_port: bool = False,
) -> None:
    """Serve ``upstream`` behind the gate on ``host:port`` until cancelled.

    ``admin`` mounts the dashboard at ``/_gate/admin/`` (outside the gate: it has its own logins).
    ``reuse_port``: bind with ``SO_REUSEPORT``, so sibling workers share the port
    (serving.workers).

    ``rules`` are ``--rule`` strings, added after those of ``rules_path``.  ``config`` defaults to
    the ``GATE_*`` environment with ``redis_url``/``database_url`` over it.  Raises ConfigError (bad
    rules, settings or upstream) before anything listens, and GateError when the gate cannot start.
    Run it on uvloop, as the CLI's other servers are.
    """
    from serving.runner import listen_on, operator_hooks, serve, with_dashboard
    from serving.runtime import open_runtime

    texts = [*(load_rules(rules_path) if rules_path else []), *rules]
    ruleset = parse_rules(texts)
    if config is None:
        config = GateConfig.from_env(store_url=redis_url, database_url=database_url)
    runtime = await open_runtime(config, ruleset)
    try:
        app = proxy_app(
            upstream,
            runtime.gatekeeper,
            timeout=httpx2.Timeout(timeout, connect=connect_timeout),
            max_body=max_body,
            allowed_redirect_origins=allowed_redirect_origins,
        )
        site, dashboard = app, None
        if admin:
            site, dashboard = await with_dashboard(app, runtime)

        def announce() -> None:
            if ready is not None:
                ready(
                    f"proxying {upstream} on http://{host}:{port} ({len(ruleset.rules)} rules, "
                    f"pid {os.getpid()})"
                )

        sockets = None
        try:
            if reuse_port:
                sockets = [listen_on(host, port, reuse_port=True)]
            async with operator_hooks(runtime, metrics_port=metrics_port):
                await serve(
                    site,
                    host,
                    port,
                    ready=announce,
                    survive_signals=True,
                    log_level=log_level,
                    lifespan="on",  # closes the upstream client on shutdown
                    # The upstream's Server and Date headers pass through; no second pair.
                    server_header=False,
                    date_header=False,
                    timeout_graceful_shutdown=10,  # open WebSockets must not hold a stop forever
                    sockets=sockets,
                )
        finally:
            for sock in sockets or ():
                sock.close()
            await app.app.aclose()  # type: ignore[attr-defined]  # idempotent after lifespan
            if dashboard is not None:
                await dashboard.stop()
    finally:
        await runtime.close()
