"""The operator's state that is not puzzles, kept in SQL: API keys, policy versions and their audit
trail, identity overrides, dashboard logins and actions, ledger history.

Both the ways in that serve traffic (through ``serving.runtime``) and the dashboard read and write
it, so it sits below them and above ``puzzles`` (whose ``Base`` and migration history it shares).
"""
