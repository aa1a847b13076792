"""Event handlers as Tyk's Python plugin authors write them."""

import sys
import time

from tyk.decorators import *
from gateway import TykGateway as tyk

import helpers

VERSION = 1
CALLS = []


@Hook
def MyPreHook(request, session, spec):  # middleware: the gateway's business, never called here
    return request, session


@Event
def record_event(event, spec):
    CALLS.append(event.message["Type"])
    helpers.record(event, spec, version=VERSION, calls=len(CALLS))


@Event
def log_event(event, spec):
    tyk.log("python saw %s on %s" % (event.message["Type"], spec["APIID"]), "warning")
    print("printed by", event.handler_name)


@Event
def fail_event(event, spec):
    raise ValueError("boom at " + event.message["Meta"].get("Path", "?"))


@Event
def hang_event(event, spec):
    if event.message["Meta"].get("hang"):
        time.sleep(3600)
    helpers.record(event, spec, version=VERSION)


@Event
def exit_event(event, spec):
    sys.exit(3)


def not_an_event(event, spec):
    pass
