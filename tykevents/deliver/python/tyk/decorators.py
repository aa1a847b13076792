"""`tyk.decorators`, as Tyk's Python plugins use it: `from tyk.decorators import *`.

`@Event` marks an event handler, called as `handler(event, spec)`; tykevents runs it for a
`cp_dynamic_handler` whose `name` is the function's name. The middleware decorators (`@Hook`,
`@Pre`, `@Post`, `@PostKeyAuth`, `@CustomKeyCheck`) are accepted, so that a bundle's
middleware file loads as it is; tykevents never calls them (the gateway runs middleware).
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import getfullargspec
from typing import Any

__all__ = [
    "CustomKeyCheck",
    "Event",
    "HandlerDecorator",
    "Hook",
    "Post",
    "PostKeyAuth",
    "Pre",
    "getfullargspec",
]


class HandlerDecorator:
    """A decorated plugin function: `name` is the function's name, the one an API names."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.name: str = f.__name__
        self.f = f

    def __call__(self, *args: Any) -> Any:
        return self.f(*args)


class Hook(HandlerDecorator):
    def __init__(self, f: Callable[..., Any]) -> None:
        super().__init__(f)
        self.arg_count = len(getfullargspec(f).args)


class Pre(HandlerDecorator):
    pass


class Post(HandlerDecorator):
    pass


class PostKeyAuth(HandlerDecorator):
    pass


class CustomKeyCheck(HandlerDecorator):
    pass


class Event(HandlerDecorator):
    """An event handler: `f(event, spec)`, where `event.message` is Tyk's EventMessage
    (`Type`, `Meta`, `TimeStamp`), `event.handler_name` the handler's name and `spec` is
    `{"APIID", "OrgID"}`. Its return value is ignored."""

    def __call__(self, event: Any, spec: Any = None) -> None:
        self.f(event, spec)
