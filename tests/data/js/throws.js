// A handler that throws on every event.
var throwingHandler = new TykJS.TykEventHandlers.NewEventHandler({});

throwingHandler.NewHandler(function(event, context) {
    var meta = event.Meta;
    log("about to fail");
    return meta.Missing.Field;
});
