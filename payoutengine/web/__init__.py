"""``payoutengine web``: pages for recipients (what is owed, a Claim button), payers and the
operator, served by Starlette with Jinja2 templates (the ``web`` extra).

- :mod:`.config` — the ``web.toml`` sections; :mod:`.service` — what the pages read and do;
- :mod:`.chainview` — bounded chain reads of one account or payer;
- :mod:`.claims` — claims signed by the sponsor key through the journaled send path;
- :mod:`.limits` — rate limits and the daily sponsor CPU budget;
- :mod:`.operator` — the daemon's journal, alerts, resources, payer-sync reports;
- :mod:`.app` — the routes; ``templates/`` and ``static/`` (the page's own script).

Only :mod:`.config` and :mod:`.limits` import without the extra.
"""

from __future__ import annotations

from .config import WebConfig, load_web_config

__all__ = ["WebConfig", "load_web_config"]
