"""Accuracy predictors fitted on a trained supernet: collect (arch, accuracy) pairs, fit
an MLP (OFA's) or a scikit-learn baseline, evaluate on held-out archs, save and load.

    predictors.collect(CollectConfig(supernet="runs/quick/supernet.pt", out="acc.csv"))
    predictors.fit_predictors(FitConfig(data="acc.csv", out="runs/predictor"))
    p = predictors.load_predictor("runs/predictor", supernet="runs/quick/supernet.pt")
    p.predict(archs)  # accuracy in %, one per arch
"""

from supernet.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "predictors._fit": (
        "FitConfig", "fit_predictors", "load_training_data", "split_table"
    ),
    "predictors._metrics": (
        "kendall_tau", "regression_metrics", "spearman_rho"
    ),
    "predictors.labels": (
        "CollectConfig", "collect", "plan_archs", "read_table"
    ),
    "predictors.models": (
        "EncodedPredictor", "GBTPredictor", "MLPPredictor", "RidgePredictor", "TransferPredictor",
        "create_predictor", "list_predictors", "load_predictor", "register_predictor"
    ),
    "predictors.proxies": (
        "PROXY_PREFIX", "ProxyPredictor", "list_proxies", "proxy_images", "register_proxy"
    ),
    "supernet": (
        "Predictor",
    ),
})
