"""Hypothesis profiles (dev / ci / thorough, chosen by HYPOTHESIS_PROFILE) and shared fixtures."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


@functools.cache
def _claim_result(claim_id: str):
    from proofs_check import claims

    return claims.get(claim_id).run("default", seed=0)


@pytest.fixture(scope="session")
def claim_result():
    """``claim_result(id)``: the claim's result at the default budget and seed 0, computed once per
    session (the claims' tests and the README's findings read the same run)."""
    return _claim_result


@pytest.fixture(scope="session")
def catalogue_cache(tmp_path_factory) -> Path:
    """The cache folder of the whole catalogue, built once per session (:func:`whole_catalogue`)."""
    return tmp_path_factory.mktemp("catalogue-cache")


@pytest.fixture(scope="session")
def whole_catalogue(catalogue_cache):
    """Every registered loss at K = 3 and 10, built once for the session (two processes): the
    catalogue's tests, the README's catalogue findings and its catalogue commands (from the cache)."""
    from theory.checks import catalogue

    return catalogue.build(cache=catalogue_cache, jobs=2)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
