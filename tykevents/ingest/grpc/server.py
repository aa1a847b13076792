"""Tyk's coprocess gRPC Dispatcher, served on tykevents.listen.grpc (docs/tyk-gateway.md).

A stock gateway calls DispatchEvent for each event an API forwards with cp_dynamic_handler,
with the coprocess JSON envelope as payload. It goes through the pipeline as a record of any
lossless transport does: the call answers once every handler call it makes is queued, so a
full lane holds it (backpressure), and a bad payload is rejected and counted by the pipeline
while the call still answers. Dispatch (a middleware hook call) is answered with its request:
tykevents runs no hooks. Both methods take and give raw bytes, so the Object is never parsed
and goes back exactly as it came.

Lifecycle, driven by ingest/listeners.py: `open` binds every address and starts; `stop_intake`
stops listening and refuses new calls while the calls under way go on; `drain` waits for them;
`close` cancels what is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc

from tykevents.config import Config, grpc_unix_path, split_hostport
from tykevents.decode import INVALID
from tykevents.ingest.datagram import own_socket, remove_own_sockets, remove_stale_socket
from tykevents.ingest.grpc import coprocess_pb2
from tykevents.ingest.grpc.wire import event_payload
from tykevents.runtime.ratelog import RateLimitedLog
from tykevents.runtime.workers import current as current_worker

if TYPE_CHECKING:
    from tykevents.pipeline import Pipeline

logger = logging.getLogger("tykevents.ingest")

SERVICE = coprocess_pb2.DESCRIPTOR.services_by_name["Dispatcher"].full_name  # coprocess.Dispatcher
TRANSPORT = "grpc"  # the label of its counters (tykevents_datagrams_total{transport})
# Messages up to grpc's default limit (what Tyk's client accepts back), or a whole record if
# max_record_bytes is larger; a bigger payload is then the pipeline's to reject as oversized.
MIN_MESSAGE_LIMIT = 4 << 20
_STOP_GRACE = 3600.0  # stop_intake lets calls run; drain's deadline bounds them, close ends them

Context = grpc.aio.ServicerContext[bytes, bytes]


class GrpcIngest:
    def __init__(self, pipeline: Pipeline, accepting: Callable[[], bool]) -> None:
        self.pipeline = pipeline
        self.accepting = accepting  # False while starting or draining, as HTTP's 503
        self.server: grpc.aio.Server | None = None
        self.ratelog = RateLimitedLog(logger)
        self._stopping: asyncio.Task[None] | None = None
        self._waiting: set[asyncio.Task[None]] = set()  # calls' handler calls waiting for room
        self._unix_paths: list[tuple[str, int]] = []  # (path, inode) of the sockets we bound

    async def open(self, cfg: Config) -> None:
        listen = cfg.tykevents.listen
        worker = current_worker()
        limit = max(MIN_MESSAGE_LIMIT, cfg.tykevents.max_record_bytes + 4096)
        server = grpc.aio.server(
            options=[
                # A second daemon on our port must fail, not share it; a supervisor's workers
                # share it (the supervisor checks the port is free before it starts them).
                ("grpc.so_reuseport", 1 if worker.supervised else 0),
                ("grpc.max_receive_message_length", limit),
            ]
        )
        handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
            "Dispatch": grpc.unary_unary_rpc_method_handler(self.dispatch),
            "DispatchEvent": grpc.unary_unary_rpc_method_handler(self.dispatch_event),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        server.add_registered_method_handlers(SERVICE, handlers)
        self.server = server
        tls = _credentials(cfg)
        for addr in listen.grpc:
            path = grpc_unix_path(addr)
            if path is not None:  # a local socket: its file mode guards it, not TLS
                if not worker.first:
                    continue  # a path cannot be shared: worker 0's
                path = os.path.abspath(cfg.runtime_path(path))
                remove_stale_socket(path)
                _bind(server, addr, f"unix:{path}", None)
                self._unix_paths.append((path, 0))
                logger.info("listening on grpc unix:%s (coprocess Dispatcher)", path)
                continue
            host, port = split_hostport(addr)
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            _bind(server, addr, target, tls)
            logger.info(
                "listening on grpc %s (coprocess Dispatcher, %s)", addr, "TLS" if tls else "plaintext"
            )
        await server.start()
        self._unix_paths = [
            own_socket(path, listen.unix_mode, listen.unix_group) for path, _ in self._unix_paths
        ]

    async def dispatch_event(self, request: bytes, context: Context) -> bytes:
        """DispatchEvent(Event) -> EventReply{} (no fields: b"")."""
        if not self.accepting():
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not accepting events (starting or draining)")
        pipeline = self.pipeline
        payload = event_payload(request)
        if payload is None:
            pipeline.stats.datagrams[TRANSPORT] += 1
            pipeline.stats.bytes_in[TRANSPORT] += len(request)
            pipeline.reject(INVALID, "a DispatchEvent request that is not a coprocess.Event")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "not a coprocess.Event message")
        parked = pipeline.feed(payload, TRANSPORT, lossless=True)
        if parked:
            # Its own task: a call the client gives up on still queues what it brought.
            task = asyncio.ensure_future(pipeline.put_parked(parked))
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)
            await asyncio.shield(task)
        return b""

    async def dispatch(self, request: bytes, context: Context) -> bytes:
        """Dispatch(Object) -> the same Object, byte for byte."""
        self.ratelog.log(
            logging.INFO,
            "dispatch",
            "a coprocess Dispatch call (a middleware hook names this gRPC server): answered unchanged",
        )
        return request

    def stop_intake(self) -> None:
        if self.server is not None and self._stopping is None:
            self._stopping = asyncio.ensure_future(self.server.stop(_STOP_GRACE))
        remove_own_sockets(self._unix_paths)

    async def drain(self, deadline: float) -> None:
        """Wait (until the monotonic deadline) for the calls under way."""
        pending = [*self._waiting, *([self._stopping] if self._stopping else [])]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.stop(None)  # aborts the calls still running
            self.server = None
        for task in (*self._waiting, *([self._stopping] if self._stopping else [])):
            task.cancel()
        remove_own_sockets(self._unix_paths)  # a start that failed half-way did not stop intake


def _bind(server: grpc.aio.Server, addr: str, target: str, tls: grpc.ServerCredentials | None) -> None:
    try:
        port = server.add_secure_port(target, tls) if tls else server.add_insecure_port(target)
    except RuntimeError as e:  # grpc says only "Failed to bind"
        raise OSError(f"cannot listen on grpc {addr}: {e}") from None
    if port == 0:
        raise OSError(f"cannot listen on grpc {addr}")


def _credentials(cfg: Config) -> grpc.ServerCredentials | None:
    """TLS from listen.grpc_cert_file / grpc_key_file (and mutual TLS with grpc_client_ca_file),
    checked here so that a bad file stops the start, not each handshake."""
    listen = cfg.tykevents.listen
    if not listen.grpc_cert_file:
        return None
    cert, key = cfg.path(listen.grpc_cert_file), cfg.path(listen.grpc_key_file)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise OSError(f"listen.grpc_cert_file {cert}, grpc_key_file {key}: {e}") from None
    ca = None
    if listen.grpc_client_ca_file:
        ca_path = cfg.path(listen.grpc_client_ca_file)
        try:
            ctx.load_verify_locations(ca_path)
        except (OSError, ssl.SSLError) as e:
            raise OSError(f"listen.grpc_client_ca_file {ca_path}: {e}") from None
        ca = ca_path.read_bytes()
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())], root_certificates=ca, require_client_auth=ca is not None
    )
