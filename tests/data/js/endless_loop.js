// A broken handler: it never returns.
var spinHandler = new TykJS.TykEventHandlers.NewEventHandler({});

spinHandler.NewHandler(function(event, context) {
    var n = 0;
    while (true) {
        n++;
    }
});
