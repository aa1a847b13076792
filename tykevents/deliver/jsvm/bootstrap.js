// tykevents bootstrap: the TykJS namespace and the Tyk JS API for event handler scripts.
//
// Users' scripts written for Tyk's event VM run unchanged on top of this file. It gives them
// what Tyk's "coreJS" and LoadTykJSApi give (docs/compatibility.md): the TykJS constructors,
// TykJsResponse, log/rawlog, the base64 helpers, TykMakeHttpRequest, TykBatchRequest,
// TykGetKeyData, TykSetKeyData and console. ES5 only, as scripts written for otto are.
//
// The Python host functions arrive as globals named __tykevents_host_<name>; they are taken
// into this closure and removed from the global object. Strings cross the boundary as JSON
// text both ways (the binding truncates raw strings at NUL), and every argument is first
// coerced with String(), as otto's .String() does: objects become "[object Object]" and a
// missing argument becomes "undefined". A host null means JS undefined.

(function (global) {
    var host = {};
    var names = ["log", "debug", "debugEnabled", "rawlog", "console", "b64enc", "b64dec",
                 "rawb64enc", "rawb64dec", "makeHttpRequest", "batchRequest", "getKeyData",
                 "setKeyData"];
    for (var i = 0; i < names.length; i++) {
        host[names[i]] = global["__tykevents_host_" + names[i]];
        delete global["__tykevents_host_" + names[i]];
    }

    function str(v) { return JSON.stringify(String(v)); }
    function out(r) { return r === null ? undefined : JSON.parse(r); }
    // A host `false`: the call's time limit ran out during its request and the host has
    // fired the interrupt, which this loop runs into at once (no script can catch it).
    function http(r) { if (r === false) { for (;;) {} } return out(r); }

    global.log = function (msg) { host.log(str(msg)); };
    global.rawlog = function (msg) { host.rawlog(str(msg)); };
    global.b64enc = function (s) { return out(host.b64enc(str(s))); };
    global.b64dec = function (s) { return out(host.b64dec(str(s))); };
    global.rawb64enc = function (s) { return out(host.rawb64enc(str(s))); };
    global.rawb64dec = function (s) { return out(host.rawb64dec(str(s))); };
    global.TykMakeHttpRequest = function (req) { return http(host.makeHttpRequest(str(req))); };
    global.TykBatchRequest = function (req) { return http(host.batchRequest(str(req))); };
    global.TykGetKeyData = function (key, apiID) { return out(host.getKeyData(str(key), str(apiID))); };
    global.TykSetKeyData = function (key, session, suppressReset) {
        host.setKeyData(str(key), str(session), str(suppressReset));
    };

    function joined(args) { return Array.prototype.map.call(args, String).join(" "); }
    global.console = {
        log: function () { host.console("out", str(joined(arguments))); },
        info: function () { host.console("out", str(joined(arguments))); },
        debug: function () { host.console("out", str(joined(arguments))); },
        warn: function () { host.console("err", str(joined(arguments))); },
        error: function () { host.console("err", str(joined(arguments))); }
    };

    // Tyk logs "Calling built - in handle" at INFO on every event; we log it at DEBUG, and
    // skip the host call entirely when DEBUG is off (decided once per VM).
    var traceCalls = host.debugEnabled();
    global.__tykevents_trace = function (msg) { if (traceCalls) { host.debug(str(msg)); } };
})(this);

// What Tyk defines with the API (mw_js_plugin.go: TykJsResponse), middleware-oriented.
function TykJsResponse(response, session_meta) {
    return JSON.stringify({Response: response, SessionMeta: session_meta});
}

var TykJS = {
    TykMiddleware: {
        MiddlewareComponentMeta: function (configuration) {
            this.configuration = configuration;
        }
    },
    TykEventHandlers: {
        EventHandlerComponentMeta: function () {}
    }
};

// -- Middleware components: not used by events, present so that shared files load. ----------

TykJS.TykMiddleware.MiddlewareComponentMeta.prototype.ProcessRequest = function (request, session, config) {
    log("Process Request Not Implemented");
    return request;
};

TykJS.TykMiddleware.MiddlewareComponentMeta.prototype.DoProcessRequest = function (request, session, config) {
    request.Body = b64dec(request.Body);
    var processed = this.ProcessRequest(request, session, config);
    if (!processed) {
        log("Middleware didn't return request object!");
        return;
    }
    processed.Request.Headers = {};
    processed.Request.Body = b64enc(processed.Request.Body);
    return JSON.stringify(processed);
};

TykJS.TykMiddleware.MiddlewareComponentMeta.prototype.ProcessResponse = function (response, request, session, config) {
    log("Process Response Not Implemented");
    return response;
};

TykJS.TykMiddleware.MiddlewareComponentMeta.prototype.DoProcessResponse = function (response, request, session, config) {
    var processed = this.ProcessResponse(response, request, session, config);
    if (!processed) {
        log("Middleware didn't return response object!");
        return;
    }
    return JSON.stringify(processed);
};

TykJS.TykMiddleware.NewMiddleware = function (configuration) {
    TykJS.TykMiddleware.MiddlewareComponentMeta.call(this, configuration);
};
TykJS.TykMiddleware.NewMiddleware.prototype =
    Object.create(TykJS.TykMiddleware.MiddlewareComponentMeta.prototype);
TykJS.TykMiddleware.NewMiddleware.prototype.constructor = TykJS.TykMiddleware.NewMiddleware;

TykJS.TykMiddleware.NewMiddleware.prototype.NewProcessRequest = function (callback) {
    this.ProcessRequest = callback;
};
TykJS.TykMiddleware.NewMiddleware.prototype.NewProcessResponse = function (callback) {
    this.ProcessResponse = callback;
};
TykJS.TykMiddleware.NewMiddleware.prototype.ReturnData = function (request, session) {
    return {Request: request, SessionMeta: session};
};
TykJS.TykMiddleware.NewMiddleware.prototype.ReturnResponseData = function (response, session) {
    return {Response: response, SessionMeta: session};
};
TykJS.TykMiddleware.NewMiddleware.prototype.ReturnAuthData = function (request, session) {
    return {Request: request, Session: session};
};

// -- Event handlers (Tyk's coreJS) ----------------------------------------------------------

// tykevents calls <name>.DoProcessEvent(event, context) for each event, as Tyk does.
TykJS.TykEventHandlers.EventHandlerComponentMeta.prototype.DoProcessEvent = function (event, context) {
    __tykevents_trace("Calling built - in handle");
    this.Handle(event, context);
    return;
};

TykJS.TykEventHandlers.EventHandlerComponentMeta.prototype.Handle = function (request, context) {
    log("Handler not implemented!");
    return request;
};

// Constructor arguments are ignored (the samples pass {}).
TykJS.TykEventHandlers.NewEventHandler = function () {
    TykJS.TykEventHandlers.EventHandlerComponentMeta.call(this);
};
TykJS.TykEventHandlers.NewEventHandler.prototype =
    Object.create(TykJS.TykEventHandlers.EventHandlerComponentMeta.prototype);
TykJS.TykEventHandlers.NewEventHandler.prototype.constructor = TykJS.TykEventHandlers.NewEventHandler;

TykJS.TykEventHandlers.NewEventHandler.prototype.NewHandler = function (callback) {
    this.Handle = callback;
};
