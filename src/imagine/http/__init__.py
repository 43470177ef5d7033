"""The HTTP edge: dependencies, the auth gate, the body limit, error rendering, OpenAPI.

With the domains' `routes.py` modules, the only code that imports FastAPI or Starlette.
"""
