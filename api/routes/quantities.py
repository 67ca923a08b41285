"""The quantity catalogue: what can be measured, in which unit, and how it aggregates."""

from __future__ import annotations

from fastapi import APIRouter

from api.schemas import Quantity
from decoders import QUANTITIES

router = APIRouter(prefix="/v1/quantities", tags=["quantities"])


@router.get("", response_model=list[Quantity], summary="The quantity catalogue")
async def quantities() -> list[Quantity]:
    return [
        Quantity(
            key=q.key,
            unit=q.unit,
            aggregation=q.aggregation.value,
            description=q.description,
            generic=q.generic,
        )
        for q in sorted(QUANTITIES.values(), key=lambda q: q.key)
    ]
