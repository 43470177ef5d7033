"""GET /api/v1/models: the catalog with prices and availability (extension)."""

from __future__ import annotations

from fastapi import APIRouter

from imagine.catalog import PARAMS, Model
from imagine.engines.schemas import ModelInfo, ModelsResponse, ParamInfo
from imagine.http import openapi
from imagine.http.deps import AccountDep, ModelsDep

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.get("/models", response_model=ModelsResponse, responses=openapi.UNAUTHORIZED)
async def models(_account: AccountDep, routes: ModelsDep) -> ModelsResponse:
    """The catalog with prices and availability (extension)."""
    return ModelsResponse(
        models=[
            ModelInfo(
                id=route.model.id,
                kind=route.model.kind,
                kinds=route.model.kinds,
                family=route.model.family,
                credits=route.model.price,
                requires_image=route.model.requires_image,
                max_images=route.model.max_images,
                aspect_ratios=list(route.model.ratios),
                params=_params(route.model),
                available=route.available,
                engines=route.engine_names,
                description=route.model.description,
                vision=route.vision,
            )
            for route in routes
        ]
    )


_TYPES = {float: "number", int: "integer", bool: "boolean"}


def _params(model: Model) -> list[ParamInfo]:
    return [
        ParamInfo(
            name=name,
            type=_TYPES[PARAMS[name].kind],
            min=PARAMS[name].low,
            max=PARAMS[name].high,
        )
        for name in model.params
    ]
