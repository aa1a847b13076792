// A broken handler: it allocates until memory runs out.
var hogHandler = new TykJS.TykEventHandlers.NewEventHandler({});

hogHandler.NewHandler(function(event, context) {
    var chunks = [];
    while (true) {
        chunks.push(new Array(1024).join("x") + chunks.length);
    }
});
