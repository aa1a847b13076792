// Extends the expiry of the key that caused the event, in the style of Tyk's
// event_handlers/sample/session_editor.js. No third argument to TykSetKeyData, so the
// quota is reset as well.

var sessionHandler = new TykJS.TykEventHandlers.NewEventHandler({});

sessionHandler.NewHandler(function(event, context) {
    var thisSession = JSON.parse(TykGetKeyData(event.Meta.Key, context.APIID));
    log("Expires: " + thisSession.expires);
    thisSession.expires = thisSession.expires + 1000;
    TykSetKeyData(event.Meta.Key, JSON.stringify(thisSession));
    log("Expires now: " + thisSession.expires);
});

log("Session JS event handler initialised");
