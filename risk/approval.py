"""The approval stamp: the only thing an order router accepts.

An :class:`Approved` can only be built with a capability object that this module hands
out exactly once, to :mod:`risk.overlay`, which claims it when the ``risk`` package is
imported (so nothing can claim it first). Without it the constructor refuses; copying,
pickling, ``dataclasses.replace``, subclassing and attribute assignment are refused too,
so the usual ways to duplicate or tweak an approved order do not work.

Python cannot stop code that sets out to defeat this (``object.__new__`` plus
``object.__setattr__``); the static checks in the test suite forbid that, and any
import of the capability, outside ``risk``. What this guards against is the realistic
failure: a policy or engine bug that builds or reuses an order without asking risk.
"""

from __future__ import annotations

from typing import Any, Generic, NoReturn, TypeVar

from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest

T_co = TypeVar("T_co", NewOrderRequest, ReplaceRequest, CancelRequest, covariant=True)
R = TypeVar("R", NewOrderRequest, ReplaceRequest, CancelRequest)


class ForgedApproval(TypeError):
    """Someone other than the risk overlay tried to make or duplicate an approval."""


class UnapprovedOrder(TypeError):
    """A router was handed something that is not a genuine approval of the right kind."""


class _Capability:
    __slots__ = ()

    def __reduce__(self) -> NoReturn:
        raise ForgedApproval("the approval capability cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise ForgedApproval("the approval capability cannot be copied")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise ForgedApproval("the approval capability cannot be copied")


_CAPABILITY = _Capability()
_issued: list[str] = []  # who holds it; at most one entry, ever


def _issue_capability(holder: str) -> object:
    """Hand the capability to its one holder; every later call is refused."""
    if _issued:
        raise ForgedApproval(f"the approval capability was already issued to {_issued[0]}")
    _issued.append(holder)
    return _CAPABILITY


class Approved(Generic[T_co]):
    """A request the risk overlay checked and counted as open exposure at ``approved_ns``."""

    __slots__ = ("approved_ns", "request")

    request: T_co
    approved_ns: int

    def __init__(self, capability: object, request: T_co, approved_ns: int) -> None:
        if capability is not _CAPABILITY:
            raise ForgedApproval(
                "only the risk overlay can approve an order; call RiskOverlay.check_*"
            )
        _set_request(self, request)
        _set_approved_ns(self, approved_ns)

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        raise ForgedApproval("Approved cannot be subclassed")

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Approved is immutable (tried to set {name!r})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Approved is immutable (tried to delete {name!r})")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise ForgedApproval("an approval cannot be pickled; journal its request instead")

    def __copy__(self) -> NoReturn:
        raise ForgedApproval("an approval cannot be copied; each order is approved once")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise ForgedApproval("an approval cannot be copied; each order is approved once")

    @property
    def approved(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Approved({self.request!r}, approved_ns={self.approved_ns})"


# The slots' own setters: the only way in, since __setattr__ refuses everything.
_set_request = Approved.__dict__["request"].__set__
_set_approved_ns = Approved.__dict__["approved_ns"].__set__


def require_approved(obj: object, kind: type[R]) -> R:
    """For routers: the request inside a genuine approval of ``kind``, or an error.

    Static types already say a router takes ``Approved[...]``; this is the run-time
    half, for callers that are not type-checked.
    """
    if type(obj) is not Approved:
        raise UnapprovedOrder(
            f"router refuses {type(obj).__name__}: only risk-approved orders go out"
        )
    try:
        request = obj.request
    except AttributeError:
        raise UnapprovedOrder("router refuses an approval that was not made by risk") from None
    if type(request) is not kind:
        raise UnapprovedOrder(
            f"router expected an approved {kind.__name__}, got {type(request).__name__}"
        )
    return request
