"""Newest value of one quantity for every device: what a city map shows."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query

from api import queries
from api.deps import connection
from api.errors import BadParameterError
from api.schemas import DeviceLatest, LatestList, Location
from decoders import QUANTITIES

router = APIRouter(prefix="/v1/latest", tags=["latest"])


@router.get("", response_model=LatestList, summary="Newest value per device, by measurement time")
async def latest(
    conn: Annotated[asyncpg.Connection, Depends(connection)],
    quantity: Annotated[str, Query(description="Quantity key, see /v1/quantities")],
) -> LatestList:
    entry = QUANTITIES.get(quantity)
    if entry is None:
        raise BadParameterError(f"unknown quantity {quantity!r}; /v1/quantities lists them")
    qid = await queries.quantity_id(conn, quantity)
    rows = await queries.latest_for_quantity(conn, qid) if qid is not None else []
    items = [
        DeviceLatest(
            dev_eui=r["dev_eui"],
            name=r["name"],
            sensor=r["sensor"],
            time=r["time"],
            value=r["value"],
            location=(
                Location(latitude=r["latitude"], longitude=r["longitude"])
                if r["latitude"] is not None and r["longitude"] is not None
                else None
            ),
        )
        for r in rows
    ]
    return LatestList(quantity=quantity, unit=entry.unit, items=items)
