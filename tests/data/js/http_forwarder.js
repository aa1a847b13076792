// Forwards each event to a collector with TykMakeHttpRequest, like Tyk's
// event_handlers/sample/firebase_test.js. The collector's address comes from the event's
// Meta (a custom event) so that the test can point it at its own receiver.

var forwardHandler = new TykJS.TykEventHandlers.NewEventHandler({});

forwardHandler.NewHandler(function(event, context) {
    var request = {
        Method: "POST",
        Body: JSON.stringify({type: event.Type, api: context.APIID, at: event.TimeStamp}),
        Headers: {"content-type": "application/json", "x-tyk-event": event.Type},
        Domain: event.Meta.Collector,
        Resource: "/events?api=" + context.APIID
    };
    var response = TykMakeHttpRequest(JSON.stringify(request));
    if (response === undefined) {
        log("Forward failed");
        return;
    }
    var reply = JSON.parse(response);
    log("Collector answered " + reply.Code + ": " + reply.Body);
});
