// Same global name as collide_a.js; loaded later, it replaces collide_a's handler.
var notifyHandler = new TykJS.TykEventHandlers.NewEventHandler({});

notifyHandler.NewHandler(function(event, context) {
    log("handled by collide_b");
});

function formatEvent(event) { return "B:" + event.Type; }
var onlyInB = 2;
