"""The Dockerfile check (hadolint + our rules) and the wheel check, each shown failing."""

from __future__ import annotations

import shutil

from deploy_tree import CHECKS_DIR, REPO, Tree, load_module

DOCKERFILE = "Dockerfile"


def _fails_with(tree: Tree, check: str, message: str) -> None:
    result = tree.check(check)
    assert not result.passed, result.output
    assert message in result.output, result.output


def test_hadolint_runs_and_flags_a_floating_base_image(tree: Tree) -> None:
    tree.replace(
        DOCKERFILE, "ARG PYTHON_IMAGE=python:3.11-slim-bookworm", "ARG PYTHON_IMAGE=python:latest"
    )
    tree.replace(DOCKERFILE, "FROM ${PYTHON_IMAGE} AS builder", "FROM python:latest AS builder")
    _fails_with(tree, "dockerfile", "DL3007")


def test_hadolint_flags_unpinned_apt_packages(tree: Tree) -> None:
    tree.replace(
        DOCKERFILE,
        "RUN python -m venv /opt/rlexec/.venv",
        "RUN apt-get update && apt-get install -y curl\nRUN python -m venv /opt/rlexec/.venv",
    )
    _fails_with(tree, "dockerfile", "DL3008")


def test_running_as_root_fails(tree: Tree) -> None:
    tree.replace(DOCKERFILE, "USER 10001:10001", "USER root")
    _fails_with(tree, "dockerfile", "the runtime runs as root")


def test_missing_healthcheck_fails(tree: Tree) -> None:
    text = tree.read(DOCKERFILE)
    start = text.index("\nHEALTHCHECK ") + 1
    end = text.index("\n\n", start)
    tree.write(DOCKERFILE, text[:start] + text[end + 2 :])
    assert "\nHEALTHCHECK" not in tree.read(DOCKERFILE)
    _fails_with(tree, "dockerfile", "the runtime stage has no HEALTHCHECK")


def test_torch_must_come_from_the_cpu_index(tree: Tree) -> None:
    tree.replace(DOCKERFILE, ' --index-url "${TORCH_INDEX_URL}"', "")
    _fails_with(tree, "dockerfile", "torch must come from the CPU index")


def test_single_stage_build_fails(tree: Tree) -> None:
    text = tree.read(DOCKERFILE)
    runtime = text.index(
        "# ---------------------------------------------------------------- runtime"
    )
    tree.write(
        DOCKERFILE,
        text[:runtime]
        + 'USER 10001:10001\nHEALTHCHECK --interval=10s --timeout=3s --start-period=1s --retries=3 CMD ["true"]\nENTRYPOINT ["rlexec"]\nCMD ["run"]\n',
    )
    _fails_with(tree, "dockerfile", "expected a multi-stage build")


def test_copy_of_a_path_cut_by_dockerignore_fails(tree: Tree) -> None:
    # The build would fail with "not found" on a machine we never see.
    tree.replace(".dockerignore", "!deploy/bin/\n", "")
    _fails_with(
        tree, "dockerfile", "COPY source deploy/bin/secret_env.py is excluded by .dockerignore"
    )


def test_copy_of_a_missing_file_fails(tree: Tree) -> None:
    tree.replace(
        DOCKERFILE,
        "COPY --chmod=0755 deploy/bin/healthcheck.py",
        "COPY --chmod=0755 deploy/bin/health_check.py",
    )
    _fails_with(tree, "dockerfile", "COPY source deploy/bin/health_check.py does not exist")


def test_secrets_can_never_enter_the_build_context(tree: Tree) -> None:
    tree.replace(".dockerignore", "!deploy/examples/\n", "!deploy/examples/\n!deploy/compose/\n")
    _fails_with(tree, "dockerfile", "deploy/compose/secrets must never reach the build context")


def test_shell_form_entrypoint_fails(tree: Tree) -> None:
    tree.replace(
        DOCKERFILE,
        'ENTRYPOINT ["rlexec-secret-env", "rlexec"]',
        "ENTRYPOINT rlexec-secret-env rlexec",
    )
    _fails_with(tree, "dockerfile", "ENTRYPOINT must use the exec (JSON) form")


# ------------------------------------------------------------------ the wheel


def test_data_file_dropped_from_package_data_fails_the_wheel_check(tree: Tree) -> None:
    # exchange/flow/model.py opens cst_params.json next to itself: an image without it
    # would fail at the first replay. The wheel check names it.
    tree.replace("pyproject.toml", '"exchange.flow" = ["cst_params.json"]\n', "")
    _fails_with(tree, "wheel", "exchange/flow/cst_params.json is not in the wheel")


def test_a_new_data_file_outside_package_data_fails_the_wheel_check(tree: Tree) -> None:
    # The packages are symlinks to the repository; shadow one with a real copy to add a file.
    pkg = tree.path("risk")
    pkg.unlink()
    shutil.copytree(REPO / "risk", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "limits_table.csv").write_text("symbol,max_qty\nAMZN,1000\n")
    _fails_with(tree, "wheel", "risk/limits_table.csv is not in the wheel")


# ------------------------------------------------------------------ the reader itself


def test_dockerignore_matching_follows_docker() -> None:
    df = load_module("dockerfile_reader", CHECKS_DIR / "dockerfile_reader.py")
    rules = df.parse_dockerignore("*\n!core/\n!deploy/bin/\n**/__pycache__\n# comment\n")
    assert not df.excluded(rules, "core/book.py")
    assert df.excluded(rules, "core/__pycache__/book.cpython-311.pyc")
    assert df.excluded(rules, "tests/unit/x.py")
    assert df.excluded(rules, ".git/HEAD")
    assert not df.excluded(rules, "deploy/bin/secret_env.py")
    assert df.excluded(rules, "deploy/compose/secrets/x")


def test_dockerfile_reader_joins_continuations_and_reads_env() -> None:
    df = load_module("dockerfile_reader", CHECKS_DIR / "dockerfile_reader.py")
    args, stages = df.parse(
        "ARG BASE=python:3.11\nFROM ${BASE} AS b\nRUN a \\\n  # note\n  && b\nFROM ${BASE}\n"
        'ENV A=1 \\\n    B="two words"\nENV C 3 4\n'
    )
    assert args == {"BASE": "python:3.11"}
    assert [s.base for s in stages] == ["python:3.11", "python:3.11"]
    assert stages[0].name == "b" and stages[1].name is None
    assert stages[0].all("RUN")[0].args.split() == ["a", "&&", "b"]
    assert stages[1].env() == {"A": "1", "B": "two words", "C": "3 4"}


def test_a_package_not_copied_into_the_builder_fails(tree: Tree) -> None:
    # signals/ was added to pyproject.toml and not to the Dockerfile: the image would
    # build and fail on its first import of it
    tree.replace(DOCKERFILE, "COPY signals/ signals/\n", "")
    _fails_with(
        tree, "dockerfile", "package signals/ (pyproject.toml) is not copied into the builder"
    )
