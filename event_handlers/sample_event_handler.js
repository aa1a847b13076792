// A Tyk-style event handler: the global name `sampleHandler` is what handler_meta.name names.
var sampleHandler = new TykJS.TykEventHandlers.NewEventHandler({});

sampleHandler.NewHandler(function(event, context) {
    // event = {Type, Meta: {Message, Path, Origin, Key, OriginatingRequest}, TimeStamp}
    // context = {APIID, OrgID}
    log("sample JS handler: " + event.Type + " on API " + context.APIID + " at " + event.Meta.Path);
    return;
});

log("Sample JS event handler initialised");
