"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api import queries

router = APIRouter(tags=["health"])

_READY_TIMEOUT_S = 2.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="The database answers", responses={503: {"description": "Not ready"}}
)
async def readyz(request: Request) -> JSONResponse:
    try:
        async with asyncio.timeout(_READY_TIMEOUT_S):
            async with request.app.state.pool.acquire() as conn:
                storage = await queries.storage_engine(conn)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "database": f"{type(exc).__name__}: {exc}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "database": "ok", "storage": storage})
