// Two files that both define `notifyHandler`: all scripts share one global namespace, so
// the file loaded last wins (Tyk K2).
var notifyHandler = new TykJS.TykEventHandlers.NewEventHandler({});

notifyHandler.NewHandler(function(event, context) {
    log("handled by collide_a");
});

function formatEvent(event) { return "A:" + event.Type; }
var onlyInA = 1;
