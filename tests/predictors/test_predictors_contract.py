"""The contract every registered predictor meets: fit on real archs with a learnable
target (log MACs), vectorised predict, exact save/load round trip, refusal of another
search space, another supernet or a tampered file."""

import json

import numpy as np
import pytest

import supernet
from predictors import EncodedPredictor, GBTPredictor, create_predictor, list_predictors, load_predictor
from predictors._metrics import kendall_tau
from supernet import ArtifactMismatchError, NASError

FAST = {"mlp": {"steps": 200, "hidden": 64}, "gbt": {"max_iter": 60}}  # small settings keep tests quick


@pytest.fixture(scope="module")
def dataset():
    space = supernet.get_space("fmnist_small")
    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(260)))
    y = np.array([np.log(supernet.arch_cost(space, a).macs) for a in archs])
    return space, archs[:200], y[:200], archs[200:], y[200:]


def make(name, space, **extra):
    return create_predictor(name, space=space, supernet_hash="abc123", **FAST.get(name, {}), **extra)


_FITTED = {}


def fitted(name, dataset):
    """One fit per predictor for the whole module (fitting is the slow part)."""
    if name not in _FITTED:
        space, archs, y, _, _ = dataset
        _FITTED[name] = make(name, space).fit(archs, y)
    return _FITTED[name]


#: the predictors fitted from scratch on an fp32 table; ``transfer`` needs a base predictor and
#: a table of quantised accuracies (tests/nas/test_quant_search.py)
STANDALONE = [n for n in list_predictors() if n != "transfer"]


def test_registry():
    assert {"mlp", "ridge", "gbt"} <= set(list_predictors())
    with pytest.raises(NASError, match="unknown predictor"):
        create_predictor("nope", space="fmnist_small")


@pytest.mark.parametrize("name", STANDALONE)
def test_fit_predict_save_load(name, dataset, tmp_path):
    space, archs, y, test_archs, test_y = dataset
    fresh = make(name, space)
    assert isinstance(fresh, EncodedPredictor)
    with pytest.raises(NASError, match="not fitted"):
        fresh.predict(test_archs)
    with pytest.raises(NASError, match="values"):
        fresh.fit(archs, y[:-1])
    model = fitted(name, dataset)
    assert model.fitted
    pred = model.predict(test_archs)
    assert pred.shape == (len(test_archs),) and pred.dtype == np.float64 and np.isfinite(pred).all()
    assert kendall_tau(test_y, pred) > 0.5
    assert model.predict(test_archs[0]).shape == (1,)
    assert model.predict([]).shape == (0,)

    folder = model.save(tmp_path / name)
    loaded = load_predictor(folder, space=space, supernet="abc123")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(test_archs), pred)

    with pytest.raises(ArtifactMismatchError, match="search space"):
        load_predictor(folder, space="ofa_mbv3")
    with pytest.raises(ArtifactMismatchError, match="supernet"):
        load_predictor(folder, supernet="another-hash")
    with pytest.raises(ArtifactMismatchError, match="supernet"):
        loaded.check(supernet="another-hash")
    with pytest.raises(supernet.SpaceError):
        loaded.predict([supernet.get_space("ofa_mbv3").largest()])


@pytest.mark.parametrize("name", STANDALONE)
def test_tampered_or_foreign_files_are_refused(name, dataset, tmp_path):
    folder = fitted(name, dataset).save(tmp_path / name)
    manifest = json.loads((folder / "predictor.json").read_text())
    for fname in manifest["files"]:
        (folder / fname).write_bytes((folder / fname).read_bytes() + b"x")
        with pytest.raises(ArtifactMismatchError, match="sha256"):
            load_predictor(folder)
    (folder / "predictor.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ArtifactMismatchError, match="not a predictor"):
        load_predictor(folder)
    with pytest.raises(ArtifactMismatchError, match="no saved predictor"):
        load_predictor(tmp_path / "missing")


def test_gbt_tree_arrays_reproduce_sklearn(dataset):
    space, _, _, test_archs, _ = dataset
    model = fitted("gbt", dataset)
    assert isinstance(model, GBTPredictor)
    expected = model.sklearn_model.predict(space.encode(test_archs))
    # leaf values are stored as float32 for speed: 1e-4 pp is far below any real difference
    np.testing.assert_allclose(model.predict(test_archs), expected, rtol=0, atol=1e-4)


def test_mlp_output_bias_starts_at_the_mean(dataset):
    space, archs, y, _, _ = dataset
    model = create_predictor("mlp", space=space, steps=1, lr=1e-9)
    model.fit(archs, y)
    assert float(model.net[-1].bias.detach()) == pytest.approx(y.mean(), abs=1e-3)


@pytest.mark.parametrize("kwargs", [{"hidden": 0}, {"steps": 1.5}, {"lr": -1.0}, {"seed": "x"}])
def test_bad_arguments_are_named(kwargs):
    key = next(iter(kwargs))
    with pytest.raises(NASError, match=key):
        create_predictor("mlp", space="fmnist_small", **kwargs)


def test_gbt_refuses_trees_too_large_for_its_lookup_tables():
    with pytest.raises(NASError, match="max_leaf_nodes=40"):
        create_predictor("gbt", space="fmnist_small", max_leaf_nodes=40, max_depth=8)
    create_predictor("gbt", space="fmnist_small", max_leaf_nodes=40, max_depth=4)  # depth bounds it


def test_fast_encoding_matches_its_definition():
    """`SearchSpace.encode` (vectorised) equals OFA's per-block one-hot definition."""
    for name in ("fmnist_small", "ofa_mbv3"):
        space = supernet.get_space(name)
        rng = np.random.default_rng(1)
        archs = [space.sample(rng) for _ in range(50)] + [space.smallest(), space.largest()]
        nk, width, m = len(space.kernel_choices), len(space.kernel_choices) + len(space.expand_choices), \
            space.max_depth
        ref = np.zeros((len(archs), space.encoding_size), dtype=np.float32)
        for row, arch in enumerate(archs):
            for s, i, c in arch.blocks():
                k, e = c["kernel_sizes"], c["expand_ratios"]
                ref[row, (s * m + i) * width + space.kernel_choices.index(k)] = 1
                ref[row, (s * m + i) * width + nk + space.expand_choices.index(e)] = 1
            ref[row, space.num_stages * m * width + space.resolutions.index(arch.resolution)] = 1
        np.testing.assert_array_equal(space.encode(archs), ref)
        np.testing.assert_array_equal(space.encode(archs[0]), ref[0])
