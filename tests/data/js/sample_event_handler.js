// A logging event handler in the style of Tyk's event_handlers/sample/sample_event_handler.js.
//
// Register it in an API definition:
//   "event_handlers": {"events": {"AuthFailure": [{"handler_name": "eh_dynamic_handler",
//       "handler_meta": {"name": "sampleHandler", "path": "sample_event_handler.js"}}]}}
//
// event:   {Type, Meta: {Message, Path, Origin, Key, OriginatingRequest}, TimeStamp}
// context: {APIID, OrgID}

var sampleHandler = new TykJS.TykEventHandlers.NewEventHandler({});

sampleHandler.NewHandler(function(event, context) {
    log("Running sample JSVM Handler: " + event.Type + " on " + context.APIID + " (" + context.OrgID + ") path " + event.Meta.Path);
    return;
});

log("Sample JS event handler initialised");
