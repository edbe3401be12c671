"""Web pages for inspectors and supervisors, served by the API's own app.

``router`` holds every page (server-rendered Jinja templates from ``serving/templates``,
a stylesheet and a small script from ``serving/static``); ``create_app`` includes it. See
``docs/pages.md`` for the pages, who may open them and the synthetic-data banner.
"""

from serving.pages.routes import router

__all__ = ["router"]
