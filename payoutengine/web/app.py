"""The pages: a Starlette application with Jinja2 templates and the package's own script.

Routes (every input validated here, on the server, with one sentence when it is wrong):

- ``/`` — look up a recipient or a payer;
- ``/recipient/{account}`` (and ``/live`` for the live part, ``/api/recipient/{account}``
  as JSON) — what every schedule owes the account, recent payments, a Claim button per due;
- ``POST /api/claim`` — ``{"account", "schedule"}``: the server pushes ``claim`` signed by the
  sponsor key; ``GET /api/claim/{tx_id}`` — its journal status;
- ``/payer/{payer}`` (``/live``, ``/api/payer/{payer}``) — a payer's schedules and funds;
- ``/operator`` (``/live``, ``/api/operator``) — loopback clients only, or with the bearer
  token (an ``Authorization: Bearer`` header, or the cookie the login form sets);
- ``/static/…`` — the script and the style sheet shipped in the package.

Live updates: the page's script fetches the ``/live`` fragment every few seconds (faster while
a claim is on its way) and swaps it in. No key or token is ever put into a page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..errors import ChainError
from ..journal import OPEN_STATUSES
from .chainview import PayerView, RecipientView, fmt_units
from .claims import ClaimRecord, ClaimRefused, account_problem
from .limits import SlidingWindow
from .service import WebService

__all__ = ["client_address", "create_app"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
_COOKIE = "pe_operator"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["units"] = lambda units, symbol: fmt_units(int(units), symbol)
    # the chain reports -1 for a resource without a limit
    env.filters["limit"] = lambda v: "?" if v is None else ("unlimited" if v < 0 else f"{v:,}")
    return Jinja2Templates(env=env)


def client_address(request: Request, trusted_proxies: frozenset[str]) -> str:
    """The TCP peer, or the last untrusted address of X-Forwarded-For behind a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return peer


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class _Headers(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for k, v in _SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response


def create_app(service: WebService) -> Starlette:
    """The application over ``service`` (chain reads, claims, operator reads)."""
    cfg = service.config
    templates = _templates()
    lookups = SlidingWindow(cfg.limits.lookups_per_minute, 60.0)
    trusted = frozenset(cfg.server.trusted_proxies)
    operator_token = service.operator_token
    cookie_value = (
        hmac.new(operator_token.encode(), b"payoutengine-operator", hashlib.sha256).hexdigest()
        if operator_token
        else ""
    )
    refresh_ms = int(cfg.server.refresh_s * 1000)

    def render(
        request: Request, name: str, context: dict[str, Any], *, status: int = 200
    ) -> Response:
        base = {"contract": cfg.contract.account, "refresh_ms": refresh_ms}
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)

    def limited(request: Request) -> Response | None:
        wait = lookups.hit(client_address(request, trusted))
        if wait is None:
            return None
        message = (
            f"Too many requests from your address: at most {cfg.limits.lookups_per_minute} a "
            f"minute; try again in {max(1, round(wait))} s."
        )
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=429)
        return render(request, "error.html", {"message": message}, status=429)

    def chain_down(request: Request, e: ChainError) -> Response:
        message = f"The chain cannot be read right now ({e}); the page retries by itself."
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=503)
        return render(request, "error.html", {"message": message}, status=503)

    # -- home -------------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        return render(request, "index.html", {})

    async def lookup(request: Request) -> Response:
        """The home page's forms: ``?account=`` or ``?payer=``, validated."""
        for field, path in (("account", "recipient"), ("payer", "payer")):
            if field in request.query_params:
                value = request.query_params[field].strip().lower()
                problem = account_problem(value)
                if problem:
                    return render(
                        request, "index.html", {"error": problem, field: value[:40]}, status=400
                    )
                return RedirectResponse(f"/{path}/{quote(value)}", status_code=303)
        return RedirectResponse("/", status_code=303)

    # -- recipient ----------------------------------------------------------------------------

    def recipient_context(account: str) -> dict[str, Any]:
        view: RecipientView = service.view.recipient(account)
        claims = service.claims.claims_for(account)
        payments = service.recent_payments(account)
        open_claim = any(c.status in OPEN_STATUSES for c in claims)
        return {
            "account": account,
            "view": view,
            "claims": claims,
            "payments": payments,
            "live_ms": 1000 if open_claim else refresh_ms,
        }

    async def recipient_page(request: Request) -> Response:
        account = request.path_params["account"]
        live = request.url.path.endswith("/live")
        problem = account_problem(account)
        if problem:
            return render(request, "index.html", {"error": problem}, status=400)
        if (resp := limited(request)) is not None:
            return resp
        try:
            ctx = await run_in_threadpool(recipient_context, account)
        except ChainError as e:
            return chain_down(request, e)
        return render(request, "recipient_live.html" if live else "recipient.html", ctx)

    async def recipient_api(request: Request) -> Response:
        account = request.path_params["account"]
        problem = account_problem(account)
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        if (resp := limited(request)) is not None:
            return resp
        try:
            ctx = await run_in_threadpool(recipient_context, account)
        except ChainError as e:
            return chain_down(request, e)
        view: RecipientView = ctx["view"]
        return JSONResponse(
            {
                "account": account,
                "exists": view.exists,
                "read_ms": view.read_ms,
                "owed": [
                    {
                        "schedule": o.schedule,
                        "payer": o.payer,
                        "token": o.tkcontract,
                        "symbol": str(o.symbol),
                        "booked": o.amount(o.booked),
                        "paid": o.amount(o.paid),
                        "due": o.amount(o.due),
                        "due_units": o.due,
                        "approved": o.approved,
                        "queued": o.ready,
                        "why_not_paid_automatically": o.reasons,
                        "claim_problem": o.claim_problem,
                    }
                    for o in view.owed
                ],
                "balances": {
                    f"{t[0]}:{t[1]}": view.balance_text(t[0], t[1]) for t in view.balances
                },
                "claims": [dataclasses.asdict(c) for c in ctx["claims"]],
                "payments": [dataclasses.asdict(p) for p in ctx["payments"]],
            }
        )

    # -- claims -------------------------------------------------------------------------------

    async def claim_api(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse(
                {"error": 'Send the claim as JSON: {"account": ..., "schedule": ...}.'},
                status_code=415,
            )
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "The request body is not JSON."}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "The request body must be a JSON object."}, 400)
        account = body.get("account")
        schedule = body.get("schedule")
        if not isinstance(account, str) or not isinstance(schedule, str):
            return JSONResponse(
                {"error": "Give the account and the schedule as text."}, status_code=400
            )
        address = client_address(request, trusted)
        try:
            record: ClaimRecord = await run_in_threadpool(
                service.claims.claim, account, schedule, address
            )
        except ClaimRefused as e:
            return JSONResponse({"error": str(e)}, status_code=e.status)
        except ChainError as e:
            return chain_down(request, e)
        return JSONResponse(
            {
                **dataclasses.asdict(record),
                "message": f"Claim sent in transaction {record.tx_id[:16]}…; following it to "
                "an irreversible block.",
            },
            status_code=202,
        )

    async def claim_status(request: Request) -> Response:
        tx_id = request.path_params["tx_id"]
        if not (len(tx_id) == 64 and all(c in "0123456789abcdef" for c in tx_id)):
            return JSONResponse({"error": "A transaction id is 64 lowercase hex characters."}, 400)
        try:
            record = await run_in_threadpool(service.claims.record, tx_id)
        except ClaimRefused as e:
            return JSONResponse({"error": str(e)}, status_code=e.status)
        return JSONResponse(dataclasses.asdict(record))

    # -- payer --------------------------------------------------------------------------------

    async def payer_page(request: Request) -> Response:
        payer = request.path_params["payer"]
        live = request.url.path.endswith("/live")
        problem = account_problem(payer)
        if problem:
            return render(request, "index.html", {"error": problem}, status=400)
        if (resp := limited(request)) is not None:
            return resp
        try:
            view: PayerView = await run_in_threadpool(service.payer_view, payer)
        except ChainError as e:
            return chain_down(request, e)
        ctx = {"payer": payer, "view": view}
        if request.url.path.startswith("/api/"):
            return JSONResponse(_jsonable(view))
        return render(request, "payer_live.html" if live else "payer.html", ctx)

    # -- operator -----------------------------------------------------------------------------

    def operator_allowed(request: Request) -> bool:
        if not operator_token:
            return _is_loopback(request.client.host if request.client else "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(
            auth[7:].strip().encode(), operator_token.encode()
        ):
            return True
        cookie = request.cookies.get(_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), cookie_value.encode())

    def operator_refusal(request: Request) -> Response:
        if not operator_token:
            message = (
                "The operator page answers only on this machine (no operator token is configured)."
            )
            status = 403
        else:
            message = "The operator page needs the operator token."
            status = 401
        if _wants_json(request) or request.url.path.endswith("/live"):
            return JSONResponse({"error": message}, status_code=status)
        resp = render(
            request,
            "login.html",
            {"message": message, "can_login": bool(operator_token)},
            status=status,
        )
        if operator_token:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="payoutengine operator"'
        return resp

    async def operator_page(request: Request) -> Response:
        if not operator_allowed(request):
            return operator_refusal(request)
        live = request.url.path.endswith("/live")
        try:
            ctx = await run_in_threadpool(service.operator_context)
        except (ChainError, SQLAlchemyError) as e:
            return render(request, "error.html", {"message": str(e)}, status=503)
        if request.url.path.startswith("/api/"):
            return JSONResponse(_jsonable(ctx))
        return render(request, "operator_live.html" if live else "operator.html", ctx)

    async def operator_login(request: Request) -> Response:
        if not operator_token:
            return operator_refusal(request)
        if (resp := limited(request)) is not None:
            return resp
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        if not given or not hmac.compare_digest(given.encode(), operator_token.encode()):
            time.sleep(0.2)
            return render(
                request,
                "login.html",
                {"message": "That is not the operator token.", "can_login": True},
                status=401,
            )
        resp = RedirectResponse("/operator", status_code=303)
        resp.set_cookie(
            _COOKIE,
            cookie_value,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=12 * 3600,
        )
        return resp

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", {"message": "There is no such page."}, status=404)

    routes = [
        Route("/", home),
        Route("/lookup", lookup),
        Route("/recipient/{account}", recipient_page),
        Route("/recipient/{account}/live", recipient_page),
        Route("/api/recipient/{account}", recipient_api),
        Route("/api/claim", claim_api, methods=["POST"]),
        Route("/api/claim/{tx_id}", claim_status),
        Route("/payer/{payer}", payer_page),
        Route("/payer/{payer}/live", payer_page),
        Route("/api/payer/{payer}", payer_page),
        Route("/operator", operator_page),
        Route("/operator/live", operator_page),
        Route("/api/operator", operator_page),
        Route("/operator/login", operator_login, methods=["POST"]),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    return Starlette(
        routes=routes,
        middleware=[Middleware(_Headers)],
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
