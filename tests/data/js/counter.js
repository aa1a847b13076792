// Keeps a count in a global: a reload starts it again from zero.
var loadCount = (typeof loadCount === "undefined") ? 1 : loadCount + 1;
var eventCount = 0;

var countHandler = new TykJS.TykEventHandlers.NewEventHandler({});

countHandler.NewHandler(function(event, context) {
    eventCount++;
    log("counter v1: event " + eventCount + ", load " + loadCount);
});
