"""Artifacts load only when every byte checks out; anything else is refused, never unpickled."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from policies.actions import ActionSpec
from policies.artifact import (
    MANIFEST,
    SUMS,
    WEIGHTS,
    ArtifactError,
    artifact_digest,
    load_artifact,
    save_artifact,
)
from policies.features import FEATURE_NAMES, FeatureSpec, Normaliser
from policies.learned import load_policy
from policies.network import NumpyForward, PolicyNet


def make(
    tmp: Path, name: str = "art", hidden: tuple[int, ...] = (64, 64)
) -> tuple[Path, PolicyNet, str]:
    torch.manual_seed(0)
    net = PolicyNet(len(FEATURE_NAMES), ActionSpec().n, hidden)
    path = tmp / name
    digest = save_artifact(
        path,
        net,
        feature_spec=FeatureSpec(),
        normaliser=Normaliser.identity(),
        action_spec=ActionSpec(),
        extra={"name": name},
    )
    return path, net, digest


def resum(path: Path) -> None:
    """What an attacker who can write the directory would do: fix the sums up."""
    lines = []
    for n in (MANIFEST, WEIGHTS):
        lines.append(f"{hashlib.sha256((path / n).read_bytes()).hexdigest()}  {n}\n")
    (path / SUMS).write_text("".join(lines))


def test_round_trip_gives_the_same_network(tmp_path: Path) -> None:
    path, net, digest = make(tmp_path)
    art = load_artifact(path, expected_sha256=digest)
    x = torch.randn(5, len(FEATURE_NAMES))
    assert torch.equal(art.net(x), net(x))
    assert art.digest == digest == artifact_digest(path)
    assert load_artifact(path, expected_sha256=art.manifest_sha256).digest == digest
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["features"]["names"] == list(FEATURE_NAMES)
    assert manifest["code_version"]


def test_numpy_forward_matches_torch(tmp_path: Path) -> None:
    _, net, _ = make(tmp_path)
    x = np.random.default_rng(1).normal(size=len(FEATURE_NAMES)).astype(np.float32)
    ref = net(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(NumpyForward(net.state_dict())(x), ref, atol=1e-5)


def test_corrupt_weights_byte_is_refused(tmp_path: Path) -> None:
    path, _, _ = make(tmp_path)
    raw = bytearray((path / WEIGHTS).read_bytes())
    raw[-3] ^= 0xFF
    (path / WEIGHTS).write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="does not match"):
        load_artifact(path)


@pytest.mark.parametrize("missing", [WEIGHTS, MANIFEST, SUMS])
def test_missing_file_is_refused(tmp_path: Path, missing: str) -> None:
    path, _, _ = make(tmp_path)
    (path / missing).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_artifact(path)


def test_wrong_expected_digest_is_refused(tmp_path: Path) -> None:
    path, _, _ = make(tmp_path)
    with pytest.raises(ArtifactError, match="expected sha256"):
        load_artifact(path, expected_sha256="0" * 64)


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    path, _, _ = make(tmp_path)
    other, _, _ = make(tmp_path, "other", hidden=(32, 32))
    (path / WEIGHTS).write_bytes((other / WEIGHTS).read_bytes())
    resum(path)
    with pytest.raises(ArtifactError, match="shape"):
        load_artifact(path)


def test_pickle_bomb_in_place_of_weights_is_never_unpickled(tmp_path: Path) -> None:
    path, _, _ = make(tmp_path)
    marker = tmp_path / "pwned"

    class Bomb:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    (path / WEIGHTS).write_bytes(pickle.dumps(Bomb()))
    resum(path)
    with pytest.raises(ArtifactError, match="not a readable safetensors"):
        load_artifact(path)
    assert not marker.exists()


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    path, net, _ = make(tmp_path)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["net.0.weight"][0, 0] = float("nan")
    save_file(state, str(path / WEIGHTS))
    resum(path)
    with pytest.raises(ArtifactError, match="NaN"):
        load_artifact(path)


def test_feature_spec_mismatch_is_refused(tmp_path: Path) -> None:
    path, _, _ = make(tmp_path)
    m = json.loads((path / MANIFEST).read_text())
    m["features"]["names"] = [*m["features"]["names"][:-1], "something_else"]
    (path / MANIFEST).write_text(json.dumps(m))
    resum(path)
    with pytest.raises(ArtifactError, match="feature spec"):
        load_artifact(path)


def test_action_spec_mismatch_is_refused(tmp_path: Path) -> None:
    path, _, _ = make(tmp_path)
    m = json.loads((path / MANIFEST).read_text())
    m["actions"]["choices"][2]["rest_slices"] = 3.0
    (path / MANIFEST).write_text(json.dumps(m))
    resum(path)
    with pytest.raises(ArtifactError, match="action spec"):
        load_artifact(path)


@pytest.mark.parametrize(
    "sums",
    [
        "not a sums file\n",
        f"{'a' * 64}  ../../etc/passwd\n",
        f"{'a' * 64}  {WEIGHTS}\n{'a' * 64}  {WEIGHTS}\n",
    ],
)
def test_malformed_sums_file_is_refused(tmp_path: Path, sums: str) -> None:
    path, _, _ = make(tmp_path)
    (path / SUMS).write_text(sums)
    with pytest.raises(ArtifactError):
        load_artifact(path)


def test_manifest_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path, _, _ = make(tmp_path)
    (path / MANIFEST).write_bytes(b"\xff\xfe not json")
    resum(path)
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(path)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a directory"):
        load_policy(tmp_path / "nope")


def test_save_replaces_an_existing_artifact_atomically(tmp_path: Path) -> None:
    path, _, d1 = make(tmp_path)
    _, _, d2 = make(tmp_path)  # same name again
    assert artifact_digest(path) == d2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]
    _ = d1
