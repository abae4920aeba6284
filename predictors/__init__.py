"""Accuracy predictors fitted on a trained supernet: collect (arch, accuracy) pairs, fit
an MLP (OFA's) or a scikit-learn baseline, evaluate on held-out archs, save and load.

    predictors.collect(CollectConfig(supernet="runs/quick/supernet.pt", out="acc.csv"))
    predictors.fit_predictors(FitConfig(data="acc.csv", out="runs/predictor"))
    p = predictors.load_predictor("runs/predictor", supernet="runs/quick/supernet.pt")
    p.predict(archs)  # accuracy in %, one per arch
"""

from predictors._fit import FitConfig, fit_predictors, load_training_data, split_table
from predictors._metrics import kendall_tau, regression_metrics, spearman_rho
from predictors.labels import CollectConfig, collect, plan_archs, read_table
from predictors.models import (
    EncodedPredictor,
    GBTPredictor,
    MLPPredictor,
    RidgePredictor,
    TransferPredictor,
    create_predictor,
    list_predictors,
    load_predictor,
    register_predictor,
)
from supernet import Predictor

__all__ = [
    "collect", "CollectConfig", "create_predictor", "EncodedPredictor", "fit_predictors", "FitConfig",
    "GBTPredictor", "kendall_tau", "list_predictors", "load_predictor", "load_training_data",
    "MLPPredictor", "plan_archs", "Predictor", "read_table", "register_predictor", "regression_metrics",
    "RidgePredictor", "spearman_rho", "split_table", "TransferPredictor",
]
