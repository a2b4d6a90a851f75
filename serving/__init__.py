"""A serving gate: the composition root (``serving.runtime``), the one server runner
(``serving.runner``) and the ASGI lifespan helper shared by every way in (middleware, MCP, admin)."""
