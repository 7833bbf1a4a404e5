"""Point 4, part (a): an approval can only come from the overlay. Forging, copying,
pickling, replacing, subclassing or mutating one fails, and a router refuses anything
that is not a genuine approval of the right kind."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api
from risk_harness import Harness, approved

from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import Side
from risk import approval
from risk.approval import Approved, ForgedApproval, UnapprovedOrder, require_approved
from risk.router import OrderRouter

REQ = NewOrderRequest("C1", "AMZN", Side.BUY, 100, 9_999)


class RecordingRouter:
    """What a real router does first: insist on a genuine approval of the right kind."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    def submit_new(self, approved: Approved[NewOrderRequest]) -> None:
        self.sent.append(require_approved(approved, NewOrderRequest))

    def submit_replace(self, approved: Approved[ReplaceRequest]) -> None:
        self.sent.append(require_approved(approved, ReplaceRequest))

    def submit_cancel(self, approved: Approved[CancelRequest]) -> None:
        self.sent.append(require_approved(approved, CancelRequest))


def test_the_recording_router_satisfies_the_router_protocol():
    router: OrderRouter = RecordingRouter()
    assert router is not None


@pytest.mark.parametrize("capability", [None, object(), "overlay", True])
def test_building_an_approval_without_the_capability_fails(capability: object):
    with pytest.raises(ForgedApproval, match="only the risk overlay"):
        Approved(capability, REQ, 0)


def test_building_an_approval_through_the_generic_alias_fails_too():
    with pytest.raises(ForgedApproval):
        Approved[NewOrderRequest](object(), REQ, 0)


def test_the_capability_is_issued_once_and_the_overlay_holds_it():
    with pytest.raises(ForgedApproval, match=r"already issued to risk\.overlay"):
        approval._issue_capability("policies.sneaky")


def test_an_approval_cannot_be_copied(h: Harness):
    a = approved(h.new())
    with pytest.raises(ForgedApproval):
        copy.copy(a)
    with pytest.raises(ForgedApproval):
        copy.deepcopy(a)


def test_an_approval_cannot_be_pickled(h: Harness):
    a = approved(h.new())
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(ForgedApproval):
            pickle.dumps(a, protocol=protocol)


def test_the_capability_cannot_be_pickled_or_copied():
    cap = approval._CAPABILITY
    with pytest.raises(ForgedApproval):
        pickle.dumps(cap)
    with pytest.raises(ForgedApproval):
        copy.copy(cap)


def test_dataclasses_replace_cannot_make_a_new_approval(h: Harness):
    a = approved(h.new())
    with pytest.raises(TypeError):
        dataclasses.replace(a, request=REQ)  # type: ignore[type-var]


def test_an_approval_is_immutable(h: Harness):
    a = approved(h.new())
    with pytest.raises(AttributeError):
        a.request = REQ  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.request
    with pytest.raises(AttributeError):
        a.extra = 1  # type: ignore[attr-defined]


def test_approved_cannot_be_subclassed():
    with pytest.raises(ForgedApproval):

        class Mine(Approved[NewOrderRequest]):  # type: ignore[misc]
            pass


def test_an_empty_shell_made_with_object_new_is_refused_by_the_router():
    shell = object.__new__(Approved)
    with pytest.raises(UnapprovedOrder, match="not made by risk"):
        RecordingRouter().submit_new(shell)


@pytest.mark.parametrize("thing", [REQ, None, "C1", (REQ,)])
def test_the_router_refuses_an_unapproved_request(thing: object):
    with pytest.raises(UnapprovedOrder, match="only risk-approved orders go out"):
        RecordingRouter().submit_new(thing)  # type: ignore[arg-type]


def test_the_router_refuses_an_approval_of_the_wrong_kind(h: Harness):
    a = approved(h.new())
    c = h.cancel(a.request.cl_ord_id)
    with pytest.raises(UnapprovedOrder, match="expected an approved NewOrderRequest"):
        RecordingRouter().submit_new(c)


def test_genuine_approvals_go_through_the_router(h: Harness):
    router = RecordingRouter()
    a = approved(h.new(qty=100))
    router.submit_new(a)
    router.submit_replace(approved(h.replace(a, 120, 9_999)))
    router.submit_cancel(h.cancel(a.request.cl_ord_id))
    assert [type(r).__name__ for r in router.sent] == [
        "NewOrderRequest",
        "ReplaceRequest",
        "CancelRequest",
    ]


@pytest.mark.slow  # runs mypy (a few seconds)
def test_the_type_checker_rejects_handing_a_router_an_unapproved_request(tmp_path: Path):
    """The static half: under mypy, only what check_* returned can reach a router."""
    snippet = tmp_path / "router_use.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from core.requests import NewOrderRequest
            from core.types import Side
            from risk.overlay import RiskOverlay
            from risk.reasons import Denied
            from risk.router import OrderRouter


            def good(router: OrderRouter, risk: RiskOverlay, req: NewOrderRequest) -> None:
                verdict = risk.check_new(req, 0)
                if not isinstance(verdict, Denied):
                    router.submit_new(verdict)


            def bad(router: OrderRouter) -> None:
                router.submit_new(NewOrderRequest("C1", "AMZN", Side.BUY, 1, 100))


            def also_bad(router: OrderRouter, risk: RiskOverlay, req: NewOrderRequest) -> None:
                router.submit_new(risk.check_new(req, 0))  # might be a Denied
            """
        )
    )
    out, _, status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--follow-imports=silent",
            str(snippet),
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1
    assert [e.split(":")[1] for e in errors] == ["16", "20"], out
    assert all('"submit_new" of "OrderRouter"' in e for e in errors), out
