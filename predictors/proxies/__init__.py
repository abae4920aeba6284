"""Zero-cost proxies: score an arch without a trained supernet, from a random initialisation
(or inherited weights) on a few images; each registered where it is defined
(``@register_proxy``). ``nas search --predictor proxy:gradsign``.

    x, y = proxy_images(space, "fashion_mnist", images=64, seed=0)
    ProxyPredictor("gradsign", space, x, y).predict(archs)  # higher: expected more accurate

Proxies: gradsign, synflow, naswot, jacob_cov, and the baselines params and macs."""

from predictors.proxies._counts import macs, params
from predictors.proxies._gradsign import gradsign
from predictors.proxies._jacob_cov import jacob_cov
from predictors.proxies._naswot import naswot
from predictors.proxies._predictor import PROXY_PREFIX, ProxyPredictor, proxy_images
from predictors.proxies._registry import (
    ProxyInput,
    batch_statistics,
    get_proxy,
    list_proxies,
    random_subnet,
    register_proxy,
    scored_weights,
)
from predictors.proxies._synflow import synflow

__all__ = ["PROXY_PREFIX", "ProxyInput", "ProxyPredictor", "batch_statistics", "get_proxy", "gradsign",
           "jacob_cov", "list_proxies", "macs", "naswot", "params", "proxy_images", "random_subnet",
           "register_proxy", "scored_weights", "synflow"]
