"""Your own additions to the API. This module is yours: `copier update` never changes it.

`app/api.py` and `app/models.py` belong to the template and change whenever the resources do, so
an edit there conflicts with the next resource you add or remove. Register the routers of your own
packages here instead. `app.models` imports this module, so the table models that your routers
import are seen by Alembic and the tests too.
"""

from fastapi import APIRouter

# Served under /api/v1 after the generated routers, for example:
#     from app.reports.router import router as reports_router
#     ROUTERS = [reports_router]
ROUTERS: list[APIRouter] = []
