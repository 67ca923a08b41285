"""Errors the API turns into HTTP answers, in one place."""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API cannot answer; `message` tells the caller what to change."""

    status = 400

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class BadParameterError(ApiError):
    status = 400


class NotFoundError(ApiError):
    status = 404


class TooManyRequestsError(ApiError):
    status = 429


class BusyError(ApiError):
    status = 503


_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = None if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(asyncpg.exceptions.QueryCanceledError)
    async def _too_slow(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "the query took too long; narrow the time range or widen the bucket"},
            status_code=503,
        )

    for error in _UNAVAILABLE:
        app.add_exception_handler(error, _unavailable)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable for %s: %s", request.url.path, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
