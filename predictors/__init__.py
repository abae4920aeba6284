"""Accuracy predictors fitted on a trained supernet: collect (arch, accuracy) pairs, fit
an MLP (OFA's) or a scikit-learn baseline, evaluate on held-out archs, save and load.

    predictors.collect(CollectConfig(supernet="runs/quick/supernet.pt", out="acc.csv"))
    predictors.fit_predictors(FitConfig(data="acc.csv", out="runs/predictor"))
    p = predictors.load_predictor("runs/predictor", supernet="runs/quick/supernet.pt")
    p.predict(archs)  # accuracy in %, one per arch
"""

from predictors._collect import CollectConfig, collect, read_table
from predictors._encoded import EncodedPredictor
from predictors._fit import FitConfig, fit_predictors, split_table
from predictors._gbt import GBTPredictor
from predictors._linear import RidgePredictor
from predictors._metrics import kendall_tau, regression_metrics, spearman_rho
from predictors._mlp import MLPPredictor
from predictors._registry import create_predictor, list_predictors, load_predictor, register_predictor
from predictors._sampling import plan_archs
from predictors._transfer import TransferPredictor
from supernet import Predictor

__all__ = [
    "CollectConfig", "EncodedPredictor", "FitConfig", "GBTPredictor", "MLPPredictor", "Predictor",
    "RidgePredictor", "TransferPredictor", "collect", "create_predictor", "fit_predictors", "kendall_tau",
    "list_predictors",
    "load_predictor", "plan_archs", "read_table", "regression_metrics", "register_predictor",
    "spearman_rho", "split_table",
]
