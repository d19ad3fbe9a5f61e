"""Event payloads checked against the handler's type hints before the handler runs.

The browser may send any event with any payload: the websocket carries whatever a client writes,
whatever the page offers. Reflex converts what it can by the type hints (a numeric string for an
``int``) and passes the rest on unchanged, so ``resend("abc")``, ``activate({"x": 1})`` or a form
whose fields are lists would reach the handler and fail deep inside it. ``AuthState`` wraps every
handler of the app's states with ``checked``: the arguments are bound to the handler's signature
and compared with its type hints, and a payload that does not fit gets an error toast (and a
warning in the log) instead of running the handler.

What is checked: missing or unknown arguments; ``str``, ``bool``, ``int`` (not a bool, and within
a database integer column), ``float``, ``None``, unions and ``Literal``; ``list``/``tuple``/``set``
items and ``dict`` keys and values by their own hints; instances of classes (``rx.UploadChunkIterator``).
A dict whose values are hinted ``Any`` is form data: its values must be plain (text, number, true or
false), never lists or objects.
"""

from __future__ import annotations

import functools
import inspect
import logging
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import reflex as rx

from econnect_app import i18n

logger = logging.getLogger(__name__)

# In English (tests compare it); the toast shows it in the tab's language (``_refusal``).
REFUSED_MESSAGE = i18n.N_("The page sent something this action cannot use. Reload the page and try again.")
# A database integer column (PostgreSQL "integer"): a larger id is refused before any query.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_PLAIN_FORM_VALUES = (str, bool, int, float)


def payload_problem(
    fn: Callable[..., Any], state: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    """Why ``fn(state, *args, **kwargs)`` does not fit ``fn``'s signature and type hints (None: it fits)."""
    signature = _signature(fn)
    try:
        bound = signature.bind(state, *args, **kwargs)
    except TypeError as error:
        return str(error)
    hints = _type_hints(fn)
    for index, (name, value) in enumerate(bound.arguments.items()):
        if index == 0:
            continue  # the state
        hint = hints.get(name, Any)
        parameter = signature.parameters[name]
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            values: Sequence[Any] = value
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            values = list(value.values())
        else:
            values = (value,)
        for item in values:
            if not conforms(item, hint):
                return f"argument {name!r} is {_describe(item)}, not {_describe_hint(hint)}"
    return None


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the type hint ``hint`` (constructs not listed in the module docstring
    are not checked)."""
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(conforms(value, argument) for argument in arguments)
    if origin is typing.Literal:
        return any(value == argument and type(value) is type(argument) for argument in arguments)
    if origin is typing.Annotated:
        return conforms(value, arguments[0])
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return _conforms_mapping(value, arguments)
    if origin in (list, tuple, set, frozenset, Sequence) or hint in (list, tuple, set, frozenset):
        return _conforms_collection(value, origin or hint, arguments)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _conforms_mapping(value: Any, arguments: tuple[Any, ...]) -> bool:
    if not isinstance(value, dict):
        return False
    key_hint, value_hint = arguments if len(arguments) == 2 else (Any, Any)
    if value_hint is Any:  # form data: plain values only
        return all(conforms(key, key_hint) for key in value) and all(
            isinstance(item, _PLAIN_FORM_VALUES) for item in value.values()
        )
    return all(conforms(key, key_hint) and conforms(item, value_hint) for key, item in value.items())


def _conforms_collection(value: Any, kind: Any, arguments: tuple[Any, ...]) -> bool:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple, set, frozenset)):
        return False
    if kind is tuple and arguments and arguments[-1] is not Ellipsis:
        return len(value) == len(arguments) and all(
            conforms(item, hint) for item, hint in zip(value, arguments, strict=True)
        )
    item_hint = arguments[0] if arguments else Any
    return all(conforms(item, item_hint) for item in value)


@functools.lru_cache(maxsize=1024)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


@functools.lru_cache(maxsize=1024)
def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolved type hints of ``fn`` (none when they cannot be resolved: nothing is checked)."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # an unresolvable forward reference: check the arguments' names only
        logger.warning(
            "Type hints of %s cannot be resolved; its payloads are not type-checked", fn.__qualname__
        )
        return {}


def _describe(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return "an integer out of range" if not INT_MIN <= value <= INT_MAX else "an integer"
    return f"a {type(value).__name__}"


def _describe_hint(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _refusal(fn: Callable[..., Any], problem: str, state: Any) -> Any:
    """The error toast, in the tab's language (``AuthState.language``: this runs on the event loop,
    outside the page's actions, so no language is in effect)."""
    logger.warning("Refused an event for %s: %s", fn.__qualname__, problem)
    language = getattr(state, "language", None)
    return rx.toast.error(
        i18n.translate(language if isinstance(language, str) else i18n.DEFAULT_LANGUAGE, REFUSED_MESSAGE)
    )


def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (an event handler's function) refusing payloads that do not fit its type hints.

    The wrapper is of the same kind (function, coroutine, generator or async generator function),
    has the same signature and type hints, and keeps Reflex's markers (background, event actions).
    """
    if getattr(fn, "__payload_checked__", False) or not hasattr(fn, "__code__"):
        return fn

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_generator(state: Any, *args: Any, **kwargs: Any) -> Any:
            problem = payload_problem(fn, state, args, kwargs)
            if problem is not None:
                yield _refusal(fn, problem, state)
                return
            async for update in fn(state, *args, **kwargs):
                yield update

        wrapper: Callable[..., Any] = async_generator
    elif inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coroutine(state: Any, *args: Any, **kwargs: Any) -> Any:
            problem = payload_problem(fn, state, args, kwargs)
            if problem is not None:
                return _refusal(fn, problem, state)
            return await fn(state, *args, **kwargs)

        wrapper = coroutine
    elif inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(state: Any, *args: Any, **kwargs: Any) -> Any:
            problem = payload_problem(fn, state, args, kwargs)
            if problem is not None:
                yield _refusal(fn, problem, state)
                return
            return (yield from fn(state, *args, **kwargs))

        wrapper = generator
    else:

        @functools.wraps(fn)
        def function(state: Any, *args: Any, **kwargs: Any) -> Any:
            problem = payload_problem(fn, state, args, kwargs)
            if problem is not None:
                return _refusal(fn, problem, state)
            return fn(state, *args, **kwargs)

        wrapper = function
    wrapper.__payload_checked__ = True  # type: ignore[attr-defined]
    return wrapper
