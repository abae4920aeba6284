"""Accuracy predictors on an arch's encoding (`EncodedPredictor`), each registered where it
is defined (``@register_predictor``): OFA's MLP, gradient-boosted trees, ridge, and a
transfer predictor that corrects a base predictor for another setting."""

from predictors.models._encoded import EncodedPredictor
from predictors.models._gbt import GBTPredictor
from predictors.models._linear import RidgePredictor
from predictors.models._mlp import MLPPredictor
from predictors.models._registry import create_predictor, list_predictors, load_predictor, register_predictor
from predictors.models._transfer import TransferPredictor

__all__ = ["EncodedPredictor", "GBTPredictor", "MLPPredictor", "RidgePredictor", "TransferPredictor",
           "create_predictor", "list_predictors", "load_predictor", "register_predictor"]
