// A file that does not parse: the handler is skipped, the others keep working.
var brokenHandler = new TykJS.TykEventHandlers.NewEventHandler({});

brokenHandler.NewHandler(function(event, context) {
    log("never " + );
});
