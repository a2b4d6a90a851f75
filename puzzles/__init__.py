"""Acrostic rebus puzzles: clue drafts, validation, the SQL clue bank and serve-time composition."""
